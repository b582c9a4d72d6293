"""``with_raw_response`` and ``with_streaming_response``: the user keeps the client's own response object.

These wrappers make ``request()`` return the client's ``LegacyAPIResponse``/``APIResponse`` instead of the parsed
model. We hand it back and finish the call when its body is parsed (its ``_parse``, hooked on that object; a
streamed body is wrapped there, so ``.parse()`` caches and returns the proxied stream), when the response is
closed, or when it is garbage-collected, whichever comes first. ``with_raw_response`` reads the body before
returning, so that case is parsed at once (the client caches the result: the user's ``.parse()`` gets the same
object).
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics._pending import PendingCall, PendingCalls
from otel_agentmetrics._telemetry import Call
from otel_agentmetrics._wrapping import close_hooks

from ._request import OpenAIRecord
from ._response import READERS
from ._streams import accumulator


class Tracked(PendingCall):
    """One raw response whose call is not finished yet."""

    __slots__ = ("proxy_cls", "stream_types")

    def __init__(self, call: Call, proxy_cls: Any, stream_types: tuple[type, ...]) -> None:
        super().__init__(call)
        self.proxy_cls = proxy_cls
        self.stream_types = stream_types


def track(call: Call, raw: Any, proxy_cls: Any, stream_types: tuple[type, ...], eager: bool) -> None:
    """Remember the call of a raw response; ``eager`` parses it now (its body is already read)."""
    tracked = _pending.add(raw, Tracked(call, proxy_cls, stream_types))
    if eager:
        try:
            raw.parse()
        except Exception:
            # Not ours to report: e.g. a structured-output validation error, which the user's own .parse()
            # raises again. The call itself succeeded.
            tracked.end()


def _stream_of(tracked: Tracked, result: Any) -> Any:
    record: OpenAIRecord = tracked.call.record  # type: ignore[assignment]
    if record.stream and isinstance(result, tracked.stream_types):
        return tracked.proxy_cls(result, tracked.call, accumulator(record, tracked.call.telemetry.capture_content))
    return None


def _read(tracked: Tracked, result: Any) -> None:
    record: OpenAIRecord = tracked.call.record  # type: ignore[assignment]
    READERS[record.kind](record, result, tracked.call.telemetry.capture_content)


_pending: PendingCalls[Tracked] = PendingCalls(_stream_of, _read, "reading a raw OpenAI response")


def _end(instance: Any) -> None:
    tracked = _pending.pop(instance)
    if tracked is not None:
        tracked.end()


def _end_inner(helper: Any) -> None:
    end = getattr(getattr(helper, "_raw_stream", None), "_self_end", None)
    if end is not None:
        end()


# ``APIResponse.close``: leaving ``with_streaming_response``'s block ends the call.
close_hook, async_close_hook = close_hooks(_end)
# The ``.stream()`` helpers' ``close`` closes the HTTP response, not the stream we proxy.
helper_close_hook, async_helper_close_hook = close_hooks(_end_inner)
