"""The Anthropic shapes that need more than ``sync_wrapper``: raw responses, stream managers, the SDK's own span.

- ``with_raw_response``/``with_streaming_response`` return the SDK's ``APIResponse`` instead of a ``Message``,
  its body perhaps unread. The user keeps that very object; the call ends when it is parsed (its ``_parse``, hooked;
  a streamed body is wrapped there, so ``.parse()`` caches and returns our proxy), closed, or collected.
- ``messages.stream(...)`` returns a manager whose entry sends the request. :func:`defer_request` runs that
  request through the shared wrapper, so the SDK's ``MessageStream`` reads its raw events from our stream proxy
  and ``text_stream``, ``get_final_message()`` and plain iteration all flow through one proxy.
- :func:`sdk_span_handoff` replaces the SDK's own call span (anthropic >= 2.12) by our span's context for the calls
  we instrument; see the module docstring of :mod:`otel_agentmetrics.instrumentors.llm.anthropic` for why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._pending import PendingCall, PendingCalls
from otel_agentmetrics._stream import Accumulator, AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call
from otel_agentmetrics._wrapping import close_hooks
from otel_agentmetrics._wrapping import open_call as call_open

from ._response import fill_message

Accumulate = Callable[[], Accumulator]

# -- the SDK's own span -------------------------------------------------------------------------------------------


def sdk_span_handoff(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``anthropic._base_client.start_api_call_span``.

    While a model call of ours is being sent (the shared wrapper's ``call_open``; an outer instrumented layer such
    as LiteLLM counts too), the SDK gets a non-recording span carrying the current span's context instead of a new
    span: it records nothing and ends nothing, yet still sends our trace context with the request (its
    ``propagation`` option) and nests any HTTP-client spans under our span. Every other API call keeps its own.
    """
    if not call_open.get():
        return wrapped(*args, **kwargs)
    context = trace.get_current_span().get_span_context()
    return NonRecordingSpan(context) if context.is_valid else None


# -- raw responses ------------------------------------------------------------------------------------------------


class _Tracked(PendingCall):
    """One raw response whose call is not finished yet."""

    __slots__ = ("capture", "accumulate")

    def __init__(self, call: Call, capture: bool, accumulate: Accumulate) -> None:
        super().__init__(call)
        self.capture = capture
        self.accumulate = accumulate


def is_raw_response(result: Any) -> bool:
    return hasattr(result, "http_response") and hasattr(result, "parse")


def track_raw(call: Call, raw: Any, capture: bool, accumulate: Accumulate) -> Any:
    """Keep the SDK's own response object; its call ends when it is parsed, closed or collected.

    ``with_raw_response`` of a non-streamed call has read the body already: the call is recorded from that body
    now (not through the SDK's ``parse()``, which is a coroutine on async clients and may run a post-parser).
    """
    if not call.record.stream and _record_body(call, raw, capture):
        return raw
    _pending.add(raw, _Tracked(call, capture, accumulate))
    return raw


def _record_body(call: Call, raw: Any, capture: bool) -> bool:
    """End the call from an already-read JSON body; False while the body is unread."""
    try:
        body = raw.http_response.content  # raises while the body is unread
    except Exception:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        try:
            fill_message(call.record, _Fields(data), capture)
        except Exception:
            internal_error("reading a raw Anthropic response body")
    call.end()
    return True


def _stream_of(tracked: _Tracked, result: Any) -> Any:
    if tracked.call.record.stream and (hasattr(result, "__next__") or hasattr(result, "__anext__")):
        proxy = AsyncStreamProxy if hasattr(result, "__anext__") else SyncStreamProxy
        return proxy(result, tracked.call, tracked.accumulate())
    return None


def _read(tracked: _Tracked, result: Any) -> None:
    fill_message(tracked.call.record, result, tracked.capture)


_pending: PendingCalls[_Tracked] = PendingCalls(_stream_of, _read, "reading a raw Anthropic response")


def _end(instance: Any) -> None:
    tracked = _pending.pop(instance)
    if tracked is not None:
        tracked.finalizer.detach()
        call = tracked.call
        # The user read the bytes themselves (read()/json()): the usage is in the body.
        if not (call.ended or tracked.parsed or call.record.stream) and _record_body(call, instance, tracked.capture):
            return
        tracked.end()


# ``APIResponse.close``: leaving ``with_streaming_response``'s block ends the call.
close_hook, async_close_hook = close_hooks(_end)


class _Fields:
    """Attribute access over a decoded JSON body, so a raw body reads like the SDK's model."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return _fields(self._data.get(name))


def _fields(value: Any) -> Any:
    if isinstance(value, dict):
        return _Fields(value)
    if isinstance(value, list):
        return [_fields(item) for item in value]
    return value


# -- stream managers ----------------------------------------------------------------------------------------------


def defer_request(manager: Any, run: Callable[[Callable[..., Any]], Any]) -> None:
    """Route the request a ``MessageStreamManager`` sends on entry through ``run``, keeping the manager itself.

    The manager holds the request as a private ``__api_request``: a callable (sync) or an awaitable (async).
    ``run(send)`` gets a function that sends it, and returns what the manager's entry gets instead. A manager
    without that attribute (a release that changed it) is left alone: uninstrumented, never broken.
    """
    name = next((key for key in vars(manager) if key.endswith("__api_request")), None)
    if name is None:
        return
    request = getattr(manager, name)
    if callable(request):
        setattr(manager, name, lambda: run(lambda *_a, **_k: request()))
    else:
        setattr(manager, name, _Deferred(lambda: run(lambda *_a, **_k: request)))


class _Deferred:
    """An awaitable that starts its coroutine only when awaited: a manager never entered leaves no coroutine
    of ours un-awaited (the SDK's own, as without us, is the only one)."""

    __slots__ = ("_start",)

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start

    def __await__(self) -> Any:
        return self._start().__await__()


def manager_exit_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps the stream managers' ``__exit__``/``__aexit__``: an exception leaving the ``with`` block ends the call
    with that error before the SDK closes the stream (the user's error always wins, as for every stream)."""
    error = args[1] if len(args) > 1 else kwargs.get("exc")
    if error is not None:
        stream = next((value for key, value in vars(instance).items() if key.endswith("__stream")), None)
        end = getattr(getattr(stream, "_raw_stream", None), "_self_end", None)
        if end is not None:
            end(error)
    return wrapped(*args, **kwargs)


def stream_instancecheck_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps the ``isinstance`` check of older releases' ``Stream``/``AsyncStream`` metaclass, which accepts only
    exact instances: our proxy of a stream is still that stream to ``isinstance(x, anthropic.Stream)``."""
    if wrapped(*args, **kwargs):
        return True
    candidate = args[0] if args else None
    return isinstance(candidate, (SyncStreamProxy, AsyncStreamProxy)) and isinstance(candidate.__wrapped__, instance)
