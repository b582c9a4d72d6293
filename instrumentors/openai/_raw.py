"""``with_raw_response`` and ``with_streaming_response``: the user keeps the client's own response object.

These wrappers make ``request()`` return the client's ``LegacyAPIResponse``/``APIResponse`` instead of the parsed
model. We hand it back untouched and finish the call when the body is parsed (the client's ``_parse``; a
streamed body is wrapped there, so ``.parse()`` caches and returns the proxied stream), when the response is
closed, or when it is garbage-collected, whichever comes first. ``with_raw_response`` reads the body before
returning, so that case is parsed at once (the client caches the result: the user's ``.parse()`` gets the same
object).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_agentmetrics._guard import internal_error
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


_pending: PendingCalls[Tracked] = PendingCalls()


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


def parse_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps the client's ``_parse``: finishes (or starts streaming) the call of a tracked raw response."""
    tracked = _pending.get(instance)
    if tracked is None or tracked.parsed or kwargs.get("to") is not None:
        return wrapped(*args, **kwargs)
    result = wrapped(*args, **kwargs)
    tracked.parsed = True
    call = tracked.call
    try:
        record: OpenAIRecord = call.record  # type: ignore[assignment]
        capture = call.telemetry.capture_content
        if record.stream and isinstance(result, tracked.stream_types):
            # From here the stream proxy owns the call (it ends on exhaustion, close or its own collection);
            # the user may drop the raw response and keep iterating.
            tracked.finalizer.detach()
            tracked.proxy = tracked.proxy_cls(result, call, accumulator(record, capture))
            return tracked.proxy
        READERS[record.kind](record, result, capture)
    except Exception:
        internal_error("reading a raw OpenAI response")
    call.end()
    return result


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
