"""Tool runs: an ``execute_tool {name}`` span and duration/error metrics for each run of a tool function.

Three ways in, one span path: the ``@tool`` decorator, ``instrument(tools=[func, "pkg.module:func"])`` (wraps
functions without editing them), and the framework instrumentors (OpenAI Agents SDK, LangChain, MCP), which
call :func:`start_tool` with the tool-call id the model gave. A tool that is both decorated and run by an
instrumented framework gets one span, the framework's (it knows the call id).

Usage::

    from otel_agentmetrics import tool

    @tool
    def search(query: str) -> list[str]: ...

    @tool(name="weather", description="Current weather for a city")
    async def get_weather(city: str) -> str: ...
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from opentelemetry.trace import Link, SpanKind

from . import _active, _tool_links
from . import semconv as sc
from ._config import ConfigError
from ._runs import SpanRun, decorate
from ._telemetry import Telemetry

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__agentmetrics_tool__"
_current: ContextVar[ToolRun | None] = ContextVar("agentmetrics_tool_run", default=None)


class ToolInstruments:
    """The tool metrics of one :class:`Telemetry` (created on first use)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.duration = telemetry.meter.create_histogram(
            sc.METRIC_TOOL_DURATION,
            unit="s",
            description="Duration of tool runs, by tool name and error type.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )


def instruments(telemetry: Telemetry) -> ToolInstruments:
    return telemetry.instruments(ToolInstruments)


class ToolRun(SpanRun):
    """One run of a tool: the span, the clock and the metrics."""

    def __init__(
        self,
        telemetry: Telemetry,
        name: str,
        description: str | None = None,
        call_id: str | None = None,
        arguments: Any = None,
        tool_type: str = sc.TOOL_TYPE_FUNCTION,
        *,
        span_name: str | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        extra: dict[str, Any] | None = None,
        start_time: int | None = None,
    ) -> None:
        self.name = name
        self.call_id = call_id
        attrs: dict[str, Any] = {
            sc.OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.TOOL_NAME: name,
            sc.TOOL_TYPE: tool_type,
        }
        if description:
            attrs[sc.TOOL_DESCRIPTION] = description
        links = None
        if call_id:
            attrs[sc.TOOL_CALL_ID] = call_id
            asked_by = _tool_links.asked_by(call_id)
            if asked_by is not None:
                links = [Link(asked_by)]
        capture = telemetry.capture
        if capture.enabled and capture.on_span and arguments is not None:
            attrs[sc.TOOL_CALL_ARGUMENTS] = _to_text(arguments)
        if extra:  # a protocol's own attributes (MCP's tools/call span is this span: one span, never two)
            attrs.update(extra)
        super().__init__(
            telemetry, span_name or f"{sc.OP_EXECUTE_TOOL} {name}", attrs, links, kind=kind, start_time=start_time
        )
        self._arguments = arguments

    @contextmanager
    def activate(self) -> Any:
        token = _current.set(self)
        try:
            with super().activate():
                yield
        finally:
            _current.reset(token)

    def report_error(self, error_type: str) -> None:
        """The tool failed but its framework turned the failure into a result for the model (it still counts)."""
        if self.error_type is None:
            self.error_type = error_type

    def finish(self, duration: float, result: Any) -> None:
        capture = self.telemetry.capture
        if capture.enabled and result is not None and self.error_type is None:
            text = _to_text(result)
            if capture.on_span:
                self.span.set_attribute(sc.TOOL_CALL_RESULT, text)
            if capture.on_event:
                event: dict[str, Any] = {sc.TOOL_CALL_RESULT: text}
                if self._arguments is not None:
                    event[sc.TOOL_CALL_ARGUMENTS] = _to_text(self._arguments)
                self.span.add_event(sc.CONTENT_EVENT, event)
        attrs: dict[str, Any] = {sc.TOOL_NAME: self.name, **self.metric_labels()}
        if self.error_type is not None:
            attrs[sc.ERROR_TYPE] = self.error_type
        instruments(self.telemetry).duration.record(duration, attrs)
        for scope in self.outer_scopes:
            after_tool = getattr(scope, "after_tool", None)
            if after_tool is not None:
                after_tool(self.name, self.error_type)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def current_tool() -> ToolRun | None:
    """The tool run whose code is executing now, if any."""
    return _current.get()


def start_tool(
    name: str,
    description: str | None = None,
    call_id: str | None = None,
    arguments: Any = None,
    tool_type: str = sc.TOOL_TYPE_FUNCTION,
    telemetry: Telemetry | None = None,
) -> ToolRun | None:
    """Open a tool run, or return ``None`` when this tool is already running one layer up (no double span)."""
    outer = _current.get()
    if outer is not None and outer.name == name and not outer.ended:
        if call_id and outer.call_id is None:
            outer.call_id = call_id
            outer.span.set_attribute(sc.TOOL_CALL_ID, call_id)
        return None
    return ToolRun(telemetry or _active.telemetry(), name, description, call_id, arguments, tool_type)


def _arguments(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The call's arguments by parameter name, for content capture."""
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), "kwargs": kwargs}
    return dict(bound.arguments)


def _wrap(func: F, name: str | None, description: str | None) -> F:
    tool_name = name or getattr(func, "__name__", None) or "tool"
    tool_description = description if description is not None else _first_line(func.__doc__)

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolRun | None:
        telemetry = _active.telemetry()
        arguments = _arguments(func, args, kwargs) if telemetry.capture.enabled else None
        return start_tool(tool_name, tool_description, None, arguments, telemetry=telemetry)

    wrapper = decorate(func, begin, lambda: _active.telemetry().capture.enabled)
    setattr(wrapper, _MARK, True)
    return wrapper


def _first_line(doc: str | None) -> str | None:
    if not doc:
        return None
    line = doc.strip().splitlines()[0].strip()
    return line or None


@overload
def tool(func: F, /) -> F: ...


@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]: ...


def tool(func: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None) -> Any:
    """Record each run of the decorated function as an ``execute_tool`` span with duration and error metrics.

    Works on plain, ``async``, generator and async-generator functions. ``name`` defaults to the function's
    name and ``description`` to the first line of its docstring. Arguments and results are recorded only when
    content capture is on (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).
    """
    if func is not None:
        return _wrap(func, name, description)
    return lambda f: _wrap(f, name, description)


def wrap_tools(targets: tuple[Any, ...]) -> list[Callable[[], None]]:
    """Wrap functions named in ``instrument(tools=...)`` where they are defined; returns the undo steps.

    Every target is resolved before anything is patched, so a bad path fails start-up with a ``ConfigError``
    and leaves nothing half-done. Code that imported a function by name (``from m import f``) before this ran
    keeps its unwrapped reference: call ``instrument()`` first, or decorate with ``@tool``.
    """
    resolved = [_resolve(target) for target in targets]
    undo: list[Callable[[], None]] = []
    for owner, attribute, original in resolved:
        if getattr(original, _MARK, False):
            continue
        setattr(owner, attribute, _wrap(original, None, None))
        undo.append(functools.partial(setattr, owner, attribute, original))
    return undo


def _resolve(target: Any) -> tuple[Any, str, Callable[..., Any]]:
    if isinstance(target, str):
        module_name, _, path = target.partition(":")
        if not module_name or not path:
            raise ConfigError(f"tools: {target!r} is not an import path; write it as 'package.module:function'")
    elif callable(target):
        module_name = getattr(target, "__module__", None) or ""
        path = getattr(target, "__qualname__", "")
        if not module_name or not path or "<locals>" in path:
            raise ConfigError(
                f"tools: {target!r} is not defined at module or class level, so it cannot be wrapped in place; "
                "decorate it with @otel_agentmetrics.tool instead"
            )
    else:
        raise ConfigError(f"tools: {target!r} is neither a function nor a 'package.module:function' path")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"tools: cannot import module {module_name!r} for {target!r} ({error})") from None
    *parents, attribute = path.split(".")
    try:
        for parent in parents:
            owner = getattr(owner, parent)
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    except (AttributeError, KeyError):
        raise ConfigError(f"tools: {module_name!r} has no {path!r}; check the name after the ':'") from None
    if isinstance(original, staticmethod | classmethod) or not callable(original):
        raise ConfigError(f"tools: {target!r} is not a plain function; decorate it with @otel_agentmetrics.tool")
    return owner, attribute, original
