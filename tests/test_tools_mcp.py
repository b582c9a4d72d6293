"""MCP: a real in-process MCP server (``MCPServer`` over the SDK's in-memory transport) called by the real client."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("mcp.server.mcpserver")

from mcp.client.client import Client  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.instrumentors.protocols.mcp import MCPInstrumentor  # noqa: E402

from .scope_kit import point_map, scoped_telemetry  # noqa: E402

server = MCPServer("calculator")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def divide(a: int, b: int) -> float:
    """Divide a by b."""
    if b == 0:
        raise ToolError("division by zero")
    return a / b


@pytest.fixture
def mcp_client(otel):
    with scoped_telemetry(otel, capture="true", openai_client=False) as telemetry:
        instrumentor = MCPInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def calls(*requests: tuple[str, dict]) -> list:
    async def go() -> list:
        async with Client(server) as client:
            with agentmetrics.agent("mcp-user") as run:
                results = [await client.call_tool(name, arguments) for name, arguments in requests]
        return [results, run]

    return asyncio.run(go())


def test_call_tool_is_a_span(mcp_client):
    (result,), run = calls(("add", {"a": 2, "b": 3}))
    assert result.structured_content == {"result": 5}
    spans = {span.name: span for span in mcp_client.finished()}
    tool_span = spans["execute_tool add"]
    assert tool_span.parent.span_id == spans["invoke_agent mcp-user"].context.span_id
    assert tool_span.attributes["gen_ai.tool.type"] == "extension"
    assert json.loads(tool_span.attributes["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert json.loads(tool_span.attributes["gen_ai.tool.call.result"]) == {"result": 5}
    assert run.tool_calls == 1 and run.errors == 0


def test_is_error_result_marks_the_run_failed(mcp_client):
    (ok, failed), run = calls(("divide", {"a": 1, "b": 2}), ("divide", {"a": 1, "b": 0}))
    assert ok.is_error is False and failed.is_error is True
    points = point_map(mcp_client.metric_points("agentmetrics.tool.duration"))
    assert points[(("gen_ai.tool.name", "divide"),)].count == 1
    assert points[(("error.type", "tool_error"), ("gen_ai.tool.name", "divide"))].count == 1
    (failed_span,) = [s for s in mcp_client.finished() if s.attributes.get("error.type") == "tool_error"]
    assert failed_span.status.status_code.name == "ERROR"
    assert run.errors == 1
