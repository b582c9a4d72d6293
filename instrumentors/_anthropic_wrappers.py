"""The Anthropic shapes that need more than ``sync_wrapper``: raw responses, stream managers, the SDK's own span.

- ``with_raw_response``/``with_streaming_response`` return an ``APIResponse`` instead of a ``Message``. Its body
  may still be unread; :class:`SyncRawResponse` ends the call when the user parses, closes or drops it, so the
  user sees exactly what an uninstrumented client gives and the span still ends once, complete.
- ``messages.stream(...)`` returns a manager whose ``__enter__`` sends the request. :class:`SyncStreamManager`
  runs that entry through the shared wrapper and puts our stream proxy under the SDK's ``MessageStream``, so
  ``text_stream``, ``get_final_message()`` and plain iteration all flow through one proxy.
- :func:`sdk_span_handoff` replaces the SDK's own call span (anthropic >= 2.12) by our span's context for the calls
  we instrument; see the module docstring of :mod:`otel_agentmetrics.instrumentors.anthropic` for why.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._stream import AsyncStreamProxy, StreamAccumulator, SyncStreamProxy
from otel_agentmetrics._telemetry import Call

from ._anthropic_messages import fill_message

Accumulate = Callable[[], StreamAccumulator]

# -- the SDK's own span -------------------------------------------------------------------------------------------

_handoff: ContextVar[bool] = ContextVar("agentmetrics_anthropic_handoff", default=False)
"""True while one of our instrumented calls is being sent: the SDK's call span for it is ours."""


def with_handoff(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a sync call) with the SDK's span handed to ours while it runs."""

    def call(*args: Any, **kwargs: Any) -> Any:
        token = _handoff.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _handoff.reset(token)

    return call


def with_handoff_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (an async call) with the SDK's span handed to ours while it runs."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        token = _handoff.set(True)
        try:
            return await fn(*args, **kwargs)
        finally:
            _handoff.reset(token)

    return call


def sdk_span_handoff(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``anthropic._base_client.start_api_call_span``.

    For a call of ours, the SDK gets a non-recording span carrying our span's context instead of a new span: it
    records nothing and ends nothing, yet still sends our trace context with the request (its ``propagation``
    option) and nests any HTTP-client spans under our span. Every other API call keeps the SDK's own span.
    """
    if not _handoff.get():
        return wrapped(*args, **kwargs)
    context = trace.get_current_span().get_span_context()
    return NonRecordingSpan(context) if context.is_valid else None


# -- raw responses ------------------------------------------------------------------------------------------------


def is_raw_response(result: Any) -> bool:
    return hasattr(result, "http_response") and hasattr(result, "parse")


def raw_response(call: Call, result: Any, capture: bool, accumulate: Accumulate, proxy: type[Any]) -> Any:
    """A raw response whose body was read already is recorded now and returned as it is; else it is proxied."""
    if not call.record.stream and _record_body(call, result, capture):
        return result
    return proxy(result, call, capture, accumulate)


def _record_body(call: Call, result: Any, capture: bool) -> bool:
    """Fill and end the call from an already-read JSON body; False when the body is unread (or not JSON)."""
    http_response = result.http_response
    try:
        body = http_response.content  # raises when the body has not been read
    except Exception:
        return False
    if call.ended:
        return True
    try:
        data = json.loads(body)
    except ValueError:
        call.end()
        return True
    if isinstance(data, dict):
        fill_message(call.record, _Fields(data), capture)
    call.end()
    return True


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


class _RawState:
    """What the sync and async raw-response proxies share: everything but the ``await``."""

    @staticmethod
    def parsed(proxy: Any, result: Any, stream_proxy: type[Any]) -> Any:
        call: Call = proxy._self_call
        if call.ended:
            return result
        try:
            if hasattr(result, "__next__") or hasattr(result, "__anext__"):
                cached = proxy._self_parsed
                if cached is not None and cached[0] is result:
                    return cached[1]
                accumulator = proxy._self_accumulate()
                wrapped = stream_proxy(result, call, accumulator)
                proxy._self_parsed = (result, wrapped, accumulator)
                return wrapped
            fill_message(call.record, result, proxy._self_capture)
        except Exception:
            internal_error("reading a parsed raw response")
        call.end()
        return result

    @staticmethod
    def closed(proxy: Any) -> None:
        call: Call = proxy._self_call
        if call.ended:
            return
        if proxy._self_parsed is not None:
            # The body is closed under a parsed stream: nothing more will arrive, so end with what was seen.
            try:
                proxy._self_parsed[2].finish(call.record)
            except Exception:
                internal_error("finishing a closed raw stream")
        elif not call.record.stream:
            try:
                if _record_body(call, proxy.__wrapped__, proxy._self_capture):
                    return
            except Exception:
                internal_error("reading a closed raw response")
        call.end()


class SyncRawResponse(wrapt.ObjectProxy):
    """An ``APIResponse`` whose body the user has yet to read; ends the call on parse, close or drop."""

    def __init__(self, wrapped: Any, call: Call, capture: bool, accumulate: Accumulate) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_capture = capture
        self._self_accumulate = accumulate
        self._self_parsed: tuple[Any, Any, StreamAccumulator] | None = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return _RawState.parsed(self, self.__wrapped__.parse(*args, **kwargs), SyncStreamProxy)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            _RawState.closed(self)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _RawState.closed(self)


class AsyncRawResponse(wrapt.ObjectProxy):
    """The async twin of :class:`SyncRawResponse`: only ``parse`` and ``close`` are awaited."""

    def __init__(self, wrapped: Any, call: Call, capture: bool, accumulate: Accumulate) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_capture = capture
        self._self_accumulate = accumulate
        self._self_parsed: tuple[Any, Any, StreamAccumulator] | None = None

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return _RawState.parsed(self, await self.__wrapped__.parse(*args, **kwargs), AsyncStreamProxy)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            _RawState.closed(self)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _RawState.closed(self)


# -- stream managers ----------------------------------------------------------------------------------------------

Enter = Callable[[Any], Any]
"""Sends the request by entering the real manager, through the shared wrapper (which starts our call)."""


def put_proxy_under(message_stream: Any, call: Call, accumulator: StreamAccumulator, proxy: type[Any]) -> Any:
    """Route the SDK ``MessageStream``'s raw event stream through our stream proxy."""
    message_stream._raw_stream = proxy(message_stream._raw_stream, call, accumulator)
    return message_stream


def _event_proxy(message_stream: Any) -> Any:
    raw = getattr(message_stream, "_raw_stream", None)
    return raw if isinstance(raw, (SyncStreamProxy, AsyncStreamProxy)) else None


class SyncStreamManager(wrapt.ObjectProxy):
    """``messages.stream(...)``'s manager: the request, and our call, start when the ``with`` block is entered."""

    def __init__(self, wrapped: Any, enter: Enter) -> None:
        super().__init__(wrapped)
        self._self_enter = enter
        self._self_stream: Any = None

    def __enter__(self) -> Any:
        self._self_stream = self._self_enter(self.__wrapped__)
        return self._self_stream

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        events = _event_proxy(self._self_stream)
        if exc is not None and events is not None:
            events.__exit__(exc_type, exc, tb)  # the user's error ends the call before the SDK closes the stream
        return self.__wrapped__.__exit__(exc_type, exc, tb)


class AsyncStreamManager(wrapt.ObjectProxy):
    """The async twin of :class:`SyncStreamManager`."""

    def __init__(self, wrapped: Any, enter: Enter) -> None:
        super().__init__(wrapped)
        self._self_enter = enter
        self._self_stream: Any = None

    async def __aenter__(self) -> Any:
        self._self_stream = await self._self_enter(self.__wrapped__)
        return self._self_stream

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        events = _event_proxy(self._self_stream)
        if exc is not None and events is not None:
            await events.__aexit__(exc_type, exc, tb)
        return await self.__wrapped__.__aexit__(exc_type, exc, tb)
