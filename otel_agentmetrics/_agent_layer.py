"""Shared by the agent-framework instrumentors: open an agent run from a framework's call (a plain call, a
coroutine, a generator, an async generator), fail-open; and stand-ins for a framework's own tracing, which ours
replaces while on.

An *opener* is ``(telemetry, instance, args, kwargs) -> run or None``: it reads the framework's call and starts
the run, and catches its own exceptions (``internal_error``, then ``None``): with no run the framework's call
proceeds as if uninstrumented.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import Run, _aiterate, _iterate, acall, call
from otel_agentmetrics._telemetry import Telemetry

Opener = Callable[[Telemetry, Any, tuple[Any, ...], dict[str, Any]], Run | None]
"""``(telemetry, instance, args, kwargs) -> run``, or ``None`` when it could not be opened (already reported)."""


F = TypeVar("F", bound=Callable[..., Any])


def fail_open(what: str) -> Callable[[F], F]:
    """An opener's guard: an exception inside it is reported (``internal_error(what)``) and no run is opened."""

    def decorate(open_run: F) -> F:
        @functools.wraps(open_run)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return open_run(*args, **kwargs)
            except Exception:
                internal_error(what)
                return None

        return cast(F, guarded)

    return decorate


def text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def sync_run_wrapper(telemetry: Telemetry, open_run: Opener) -> Callable[..., Any]:
    """A ``wrapt`` wrapper that runs a framework's synchronous call inside the run ``open_run`` opens."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = open_run(telemetry, instance, args, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        return call(run, wrapped, args, kwargs)

    return traced


def async_run_wrapper(telemetry: Telemetry, open_run: Opener) -> Callable[..., Any]:
    """The asynchronous twin of :func:`sync_run_wrapper`."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = open_run(telemetry, instance, args, kwargs)
        if run is None:
            return await wrapped(*args, **kwargs)
        return await acall(run, wrapped, args, kwargs)

    return traced


def iter_run_wrapper(telemetry: Telemetry, open_run: Opener) -> Callable[..., Any]:
    """A wrapper for a framework's generator: the run covers the whole iteration (ended when it is exhausted,
    closed early or fails). A generator itself, like the framework's: nothing is opened until iteration starts."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _run_iter(telemetry, open_run, wrapped, instance, args, kwargs)

    return traced


def _run_iter(
    telemetry: Telemetry,
    open_run: Opener,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterator[Any]:
    run = open_run(telemetry, instance, args, kwargs)
    if run is None:
        return (yield from wrapped(*args, **kwargs))
    with run.activate():
        steps = wrapped(*args, **kwargs)
    return (yield from _iterate(run, steps, False))


def aiter_run_wrapper(telemetry: Telemetry, open_run: Opener) -> Callable[..., Any]:
    """The async-generator twin of :func:`iter_run_wrapper`."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _run_aiter(telemetry, open_run, wrapped, instance, args, kwargs)

    return traced


async def _run_aiter(
    telemetry: Telemetry,
    open_run: Opener,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncIterator[Any]:
    run = open_run(telemetry, instance, args, kwargs)
    if run is None:
        steps = wrapped(*args, **kwargs)
    else:
        with run.activate():  # tasks the framework starts inside belong to the run
            steps = _aiterate(run, wrapped(*args, **kwargs), False)
    try:
        async for step in steps:
            yield step
    finally:  # closed early: close the framework's stream now, as a caller closing it directly would
        await steps.aclose()


# -- their own tracer stands down --------------------------------------------------------------------------------


def stand_in_span(context: Any = None) -> trace.Span:
    """A non-recording span that carries the current span's context (of ``context`` when given): what a framework
    gets in place of one of its own spans, so spans started under it are the children of ours."""
    return trace.NonRecordingSpan(trace.get_current_span(context).get_span_context())


def not_started(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A ``wrapt`` wrapper in place of a framework's method that starts one of its own spans: ours stands for it."""
    return stand_in_span()


class StandInTracer(trace.Tracer):
    """A framework's tracer while ours are on: each span it starts is a :func:`stand_in_span`, none exported."""

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> trace.Span:
        return stand_in_span(context)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Any = None, *args: Any, end_on_exit: bool = True, **kwargs: Any
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context)
        token = otel_context.attach(trace.set_span_in_context(span, context))
        try:
            yield span
        finally:
            otel_context.detach(token)
