"""What tool runs, agent runs and operations share: an INTERNAL span that is current while the code runs,
the active scopes, and one wrapper for every kind of callable.

A *run* is opened when the function is called (or a ``with`` block entered), made current only while its code
executes (so a generator's span does not leak into the code that consumes it), and ended once, by a return, an
exception or a generator closed early. The wrappers here are the only place that knows about sync, async,
generator and async-generator functions; tools, agents and operations supply just how to open their run.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, StatusCode

from . import semconv as sc
from ._context import CallScope, active_scopes
from ._guard import internal_error
from ._telemetry import Telemetry, record_error

F = TypeVar("F", bound=Callable[..., Any])


class Scope:
    """A no-op :class:`~otel_agentmetrics._context.CallScope`; subclasses override what they watch."""

    span_attributes: dict[str, Any] = {}  # noqa: RUF012 - read-only default shared by scopes with none

    def before_call(self, record: Any) -> None:
        pass

    def after_call(self, record: Any) -> None:
        pass

    def after_tool(self, name: str, error_type: str | None) -> None:
        """Called when a tool run inside the scope ends."""

    def after_retrieval(self, record: Any) -> None:
        """Called when a store operation (a :class:`~otel_agentmetrics.retrieval.RetrievalRecord`) inside the
        scope ends."""


class Run:
    """Something opened per call: made current by :meth:`activate`, closed once by :meth:`end` or :meth:`fail`."""

    scope: CallScope | None = None

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make the run's scope active while its code executes."""
        token = active_scopes.set((*active_scopes.get(), self.scope)) if self.scope is not None else None
        try:
            yield
        finally:
            if token is not None:
                active_scopes.reset(token)

    def end(self, result: Any = None) -> None:
        pass

    def fail(self, error: BaseException) -> None:
        pass


class SpanRun(Run):
    """A run with a span (INTERNAL unless ``kind`` says otherwise; under ``context`` when given, else the current
    span), a clock and the scopes that were active when it started."""

    def __init__(
        self,
        telemetry: Telemetry,
        name: str,
        attributes: dict[str, Any],
        links: list[Link] | None = None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        context: otel_context.Context | None = None,
        start_time: int | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.outer_scopes: tuple[Any, ...] = active_scopes.get()
        if self.outer_scopes:  # attribution first, so the run's own attributes win a clash
            merged: dict[str, Any] = {}
            for scope in self.outer_scopes:
                merged.update(scope.span_attributes)
            attributes = {**merged, **attributes}
        self.span: Span = telemetry.tracer.start_span(
            name, context=context, kind=kind, attributes=attributes, links=links, start_time=start_time
        )
        self.error_type: str | None = None
        self._ended = False
        self._start = time.perf_counter()
        if start_time is not None:  # a run that began before it could be recorded (a realtime tool call)
            self._start -= (time.time_ns() - start_time) / 1e9

    @contextmanager
    def activate(self) -> Iterator[None]:
        token = otel_context.attach(trace.set_span_in_context(self.span))
        try:
            with super().activate():
                yield
        finally:
            otel_context.detach(token)

    def metric_labels(self) -> dict[str, Any]:
        """Allow-listed attribution of the scopes around this run (bounded, see ``_labels``)."""
        return self.telemetry.labels.select(self.outer_scopes) if self.outer_scopes else {}

    def end(self, result: Any = None) -> None:
        self._finish(None, result)

    def fail(self, error: BaseException) -> None:
        self._finish(error, None)

    @property
    def ended(self) -> bool:
        return self._ended

    def _finish(self, error: BaseException | None, result: Any) -> None:
        if self._ended:
            return
        self._ended = True
        if isinstance(error, GeneratorExit):  # a generator closed early ended normally
            error = None
        duration = time.perf_counter() - self._start
        span = self.span
        try:
            if error is not None:
                self.error_type = type(error).__qualname__
            self.finish(duration, result)
            if self.error_type is not None:
                span.set_attribute(sc.ERROR_TYPE, self.error_type)
                if error is None:
                    span.set_status(StatusCode.ERROR)
            if error is not None:
                record_error(self.telemetry, span, error)
        except Exception:
            internal_error(f"ending a {type(self).__name__} span")
        finally:
            with suppress(Exception):
                span.end()

    def finish(self, duration: float, result: Any) -> None:
        """Record metrics and closing attributes; ``self.error_type`` is set when the run failed."""


# -- wrappers: one per kind of callable, each opening a run per call -------------------------------------------

Begin = Callable[[tuple[Any, ...], dict[str, Any]], Run | None]


def _open(begin: Begin, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run | None:
    try:
        return begin(args, kwargs)
    except Exception:
        internal_error(f"opening a run ({getattr(begin, '__qualname__', begin)})")
        return None


def call(
    run: Run,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output: Callable[[Any], Any] | None = None,
) -> Any:
    """Run a synchronous call inside ``run``; ``output`` picks what of the result the run records."""
    with run.activate():  # the output reader runs inside too: it may mark the run failed (see report_error)
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            run.fail(error)
            raise
        recorded = _output(output, result)
    run.end(recorded)
    return result


async def acall(
    run: Run,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output: Callable[[Any], Any] | None = None,
) -> Any:
    """Await an asynchronous call inside ``run``; ``output`` picks what of the result the run records."""
    with run.activate():  # the output reader runs inside too: it may mark the run failed (see report_error)
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            run.fail(error)
            raise
        recorded = _output(output, result)
    run.end(recorded)
    return result


def _output(output: Callable[[Any], Any] | None, result: Any) -> Any:
    if output is None:
        return result
    try:
        return output(result)
    except Exception:
        internal_error("reading a tool result")
        return None


def _iterate(run: Run, gen: Any, keep: bool) -> Any:
    """Drive a generator inside ``run`` one step at a time, forwarding ``send``/``throw``/``close``."""
    items: list[Any] | None = [] if keep else None
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            try:
                with run.activate():
                    item = gen.throw(thrown) if thrown is not None else gen.send(sent)
            except StopIteration as stop:
                run.end(items)
                return stop.value
            if items is not None:
                items.append(item)
            sent, thrown = None, None
            try:
                sent = yield item
            except GeneratorExit:
                with run.activate():
                    gen.close()
                run.end(items)
                raise
            except BaseException as error:
                thrown = error
    except BaseException as error:
        run.fail(error)
        raise


async def _aiterate(run: Run, agen: Any, keep: bool) -> Any:
    """The async-generator twin of :func:`_iterate` (only the awaits differ)."""
    items: list[Any] | None = [] if keep else None
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            try:
                with run.activate():
                    item = await (agen.athrow(thrown) if thrown is not None else agen.asend(sent))
            except StopAsyncIteration:
                run.end(items)
                return
            if items is not None:
                items.append(item)
            sent, thrown = None, None
            try:
                sent = yield item
            except GeneratorExit:
                with run.activate():
                    await agen.aclose()
                run.end(items)
                raise
            except BaseException as error:
                thrown = error
    except BaseException as error:
        run.fail(error)
        raise


def decorate(func: F, begin: Begin, keep_items: Callable[[], bool] = lambda: False) -> F:
    """Wrap ``func`` (sync, async, generator or async generator) so each call runs inside ``begin(args, kwargs)``.

    ``keep_items`` says, per call, whether a generator's items are collected as its result (content capture).
    """
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _open(begin, args, kwargs)
            if run is None:
                async for item in func(*args, **kwargs):
                    yield item
                return
            with run.activate():
                agen = func(*args, **kwargs)
            async for item in _aiterate(run, agen, keep_items()):
                yield item

        return agen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _open(begin, args, kwargs)
            if run is None:
                return (yield from func(*args, **kwargs))
            with run.activate():
                gen = func(*args, **kwargs)
            return (yield from _iterate(run, gen, keep_items()))

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _open(begin, args, kwargs)
            if run is None:
                return await func(*args, **kwargs)
            return await acall(run, func, args, kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _open(begin, args, kwargs)
        if run is None:
            return func(*args, **kwargs)
        return call(run, func, args, kwargs)

    return sync_wrapper  # type: ignore[return-value]


class Spec:
    """Both a context manager and a decorator (``with agent("x"):`` / ``@agent("x")``).

    Each call of a decorated function, and each ``with`` block, opens its own run. One object may serve
    several blocks at once in different threads or asyncio tasks: the open run is kept per context.
    """

    def _begin(self) -> Run:
        raise NotImplementedError

    def _keep_items(self) -> bool:
        return False

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"{type(self).__name__} decorates functions; got {func!r}")
        return decorate(func, lambda args, kwargs: self._begin(), self._keep_items)

    def __enter__(self) -> Any:
        var: ContextVar[Any] | None = self.__dict__.get("_open_runs")
        if var is None:
            var = self.__dict__.setdefault(
                "_open_runs", ContextVar(f"agentmetrics_{type(self).__name__}", default=None)
            )
        run = _open(lambda args, kwargs: self._begin(), (), {}) or Run()
        activation = run.activate()
        activation.__enter__()
        state = [run, activation, None]
        state[2] = var.set(state)
        return run

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        var: ContextVar[Any] = self.__dict__["_open_runs"]
        run, activation, token = var.get()
        try:
            # Resetting removes the variable from the context again when this block set it first: a set to None
            # would keep it there, one per block for good in a long-lived thread's context (a memory leak).
            var.reset(token)
        except ValueError:  # exited in another context than entered: put back what the block found
            var.set(None if token.old_value is Token.MISSING else token.old_value)
        activation.__exit__(exc_type, exc, tb)
        if exc is not None:
            run.fail(exc)
        else:
            run.end()

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


def carry_context(func: F) -> F:
    """Bind ``func`` to the current context (agent run, attribution, budget, current span) for another thread.

    Threads do not inherit context variables; asyncio tasks do. Use it with executors and threads started
    inside a run: ``pool.submit(carry_context(fetch), url)``. Each call runs in a fresh copy of the captured
    context, so one bound function may run in several threads at once.
    """
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return captured.copy().run(func, *args, **kwargs)

    return bound  # type: ignore[return-value]
