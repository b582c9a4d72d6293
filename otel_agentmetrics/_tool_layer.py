"""Shared by the tool-framework instrumentors: open a tool run from a framework's call, fail-open."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import acall, call
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.tools import ToolRun, current_tool, start_tool

Describe = Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[str, str | None, str | None, Any]]
"""``(instance, args, kwargs) -> (tool name, description, tool-call id, arguments)``."""


def _open(telemetry: Telemetry, describe: Describe, tool_type: str, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        name, description, call_id, arguments = describe(instance, args, kwargs)
        if not telemetry.capture.enabled:
            arguments = None
        elif isinstance(arguments, str):
            arguments = _maybe_json(arguments)
        return start_tool(name, description or None, call_id, arguments, tool_type, telemetry)
    except Exception:
        internal_error(f"reading a tool call ({getattr(describe, '__qualname__', describe)})")
        return None


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def sync_tool_wrapper(
    telemetry: Telemetry,
    describe: Describe,
    output: Callable[[Any], Any] | None = None,
    tool_type: str = sc.TOOL_TYPE_FUNCTION,
) -> Callable[..., Any]:
    """A ``wrapt`` wrapper that runs a framework's synchronous tool call inside a tool run."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open(telemetry, describe, tool_type, instance, args, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        return call(run, wrapped, args, kwargs, output)

    return traced


def async_tool_wrapper(
    telemetry: Telemetry,
    describe: Describe,
    output: Callable[[Any], Any] | None = None,
    tool_type: str = sc.TOOL_TYPE_FUNCTION,
) -> Callable[..., Any]:
    """The asynchronous twin of :func:`sync_tool_wrapper` (only the call line differs)."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open(telemetry, describe, tool_type, instance, args, kwargs)
        if run is None:
            return await wrapped(*args, **kwargs)
        return await acall(run, wrapped, args, kwargs, output)

    return traced


def report_error(error_type: str) -> None:
    """Mark the tool run in progress as failed although its framework returns a result (an error message)."""
    run: ToolRun | None = current_tool()
    if run is not None:
        run.report_error(error_type)
