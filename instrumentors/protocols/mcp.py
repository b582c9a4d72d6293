"""MCP (Model Context Protocol) client: an ``execute_tool`` span for every ``ClientSession.call_tool``.

The tool runs in the MCP server, so ``gen_ai.tool.type`` is ``extension``. A result with ``isError`` set is a
failed run (``error.type=tool_error``); MCP's own ``tools/call`` request span, if the ``mcp`` package records one,
nests inside ours.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper, report_error
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    name = args[0] if args else kwargs["name"]
    arguments = args[1] if len(args) > 1 else kwargs.get("arguments")
    return name, None, None, arguments


def _output(result: Any) -> Any:
    if getattr(result, "is_error", None) or getattr(result, "isError", None):
        report_error(sc.ERROR_TYPE_TOOL)
    structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
    if structured is not None:
        return structured
    content = getattr(result, "content", None)
    if isinstance(content, list):
        return [getattr(part, "text", None) or str(part) for part in content]
    return result


class MCPInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``mcp`` client."""

    dependencies: Collection[str] = ("mcp >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        wrapper = async_tool_wrapper(telemetry, _describe, _output, sc.TOOL_TYPE_EXTENSION)
        yield "mcp.client.session", "ClientSession.call_tool", wrapper
