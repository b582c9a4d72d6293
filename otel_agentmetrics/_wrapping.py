"""Wrapper factories shared by every instrumentor, so sync and async differ only in the call line.

An instrumentor passes two small functions: ``build`` turns the call's arguments into a :class:`CallRecord`
(or ``None`` to leave the call alone), and ``handle`` reads the result into the record and either ends the call
or returns a stream proxy that will. Both run under the fail-open guard: if they break, the user gets the
unwrapped result.

One span per call whichever layers are instrumented: while a wrapped call runs, an instrumented client it calls
in turn (LiteLLM calling the ``openai`` client, say) is left alone, so the outermost layer owns the span and no
tokens or dollars are counted twice. Only while the outer call is in flight: a task it spawned that calls a model
after it ended (an async logging callback, say) gets its own span. The check costs one ``ContextVar.get``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry.context import attach, detach

from ._guard import internal_error
from ._telemetry import Call, Telemetry
from .record import CallRecord

Build = Callable[[Any, tuple[Any, ...], dict[str, Any]], CallRecord | None]
Handle = Callable[[Call, Any, tuple[Any, ...], dict[str, Any]], Any]
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

open_call: ContextVar[Call | None] = ContextVar("agentmetrics_open_model_call", default=None)
"""The instrumented model call being sent, if any: an instrumented call inside it adds no span. Truthy while a
wrapped call is being sent, and in tasks spawned meanwhile (whose own wrapped calls then set it to themselves); the
Anthropic instrumentor reads it to hand the SDK's own span off."""


def _start(telemetry: Telemetry, build: Build, instance: Any, args: Any, kwargs: Any) -> Call | None:
    outer = open_call.get()
    if outer is not None and not outer.ended:
        return None
    try:
        record = build(instance, args, kwargs)
    except Exception:
        internal_error(f"reading the request ({getattr(build, '__qualname__', build)})")
        return None
    if record is None:
        return None
    return telemetry.start(record)


def _handle(handle: Handle, call: Call, result: Any, args: Any, kwargs: Any, instance: Any = None) -> Any:
    try:
        out = handle(call, result, args, kwargs)
    except Exception:
        internal_error(f"reading the response ({getattr(handle, '__qualname__', handle)})")
        call.end()
        return result
    if not call._ended:  # a stream: an error raised while it is read is cleaned of the request's content
        call.request = (args, kwargs)
        call.client = instance
    return out


def sync_wrapper(telemetry: Telemetry, build: Build, handle: Handle) -> Wrapper:
    """A ``wrapt`` wrapper for a synchronous client method."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _start(telemetry, build, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = open_call.set(call)
        scope = attach(call.context)  # the span is current while the request is sent: transport spans nest
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error, (args, kwargs), instance)
            raise
        finally:
            detach(scope)
            open_call.reset(token)
        return _handle(handle, call, result, args, kwargs, instance)

    return traced


def async_wrapper(telemetry: Telemetry, build: Build, handle: Handle) -> Wrapper:
    """A ``wrapt`` wrapper for an asynchronous client method."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _start(telemetry, build, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = open_call.set(call)
        scope = attach(call.context)  # the span is current while the request is sent: transport spans nest
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error, (args, kwargs), instance)
            raise
        finally:
            detach(scope)
            open_call.reset(token)
        return _handle(handle, call, result, args, kwargs, instance)

    return traced


def close_hooks(on_close: Callable[[Any], None]) -> tuple[Wrapper, Wrapper]:
    """``wrapt`` wrappers for a sync and an async ``close()`` that run ``on_close(instance)`` once the original
    returns or raises: a client object closed behind our proxy's back (a raw response, a stream helper) still
    ends its call."""

    def closed(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            on_close(instance)

    async def async_closed(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            return await wrapped(*args, **kwargs)
        finally:
            on_close(instance)

    return closed, async_closed
