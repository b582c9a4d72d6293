"""MCP in one process (mcp 2.x): a real ``MCPServer`` over the SDK's in-memory transport, called by the real client.

Both sides are instrumented, so a call gives the client's ``tools/call`` span and the server's under it. The two
process tests (``test_mcp_two_process.py``) cover stdio and HTTP on mcp 1.x and 2.x.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

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


def by_name(otel) -> dict[str, list]:
    out: dict[str, list] = {}
    for span in otel.finished():
        out.setdefault(span.name, []).append(span)
    return out


def test_call_tool_is_one_client_span_with_the_server_span_under_it(mcp_client):
    (result,), run = calls(("add", {"a": 2, "b": 3}))
    assert result.structured_content == {"result": 5}
    spans = by_name(mcp_client)
    client_span, server_span = sorted(spans["tools/call add"], key=lambda s: -s.kind.value)
    assert (client_span.kind, server_span.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert "execute_tool add" not in spans  # the tool run is the tools/call span: one span, never two
    assert client_span.parent.span_id == spans["invoke_agent mcp-user"][0].context.span_id
    assert server_span.parent.span_id == client_span.context.span_id
    assert client_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert client_span.attributes["gen_ai.tool.type"] == "extension"
    assert client_span.attributes["mcp.method.name"] == "tools/call"
    assert json.loads(client_span.attributes["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert json.loads(client_span.attributes["gen_ai.tool.call.result"]) == {"result": 5}
    assert server_span.attributes["gen_ai.tool.name"] == "add"
    assert run.tool_calls == 1 and run.errors == 0
    (point,) = [
        p
        for p in mcp_client.metric_points("mcp.client.operation.duration")
        if p.attributes.get("mcp.method.name") == "tools/call"
    ]
    assert point.count == 1 and point.attributes["gen_ai.tool.name"] == "add"


def test_is_error_result_marks_the_run_failed(mcp_client):
    (ok, failed), run = calls(("divide", {"a": 1, "b": 2}), ("divide", {"a": 1, "b": 0}))
    assert ok.is_error is False and failed.is_error is True
    points = point_map(mcp_client.metric_points("agentmetrics.tool.duration"))
    assert points[(("gen_ai.tool.name", "divide"),)].count == 1
    assert points[(("error.type", "tool_error"), ("gen_ai.tool.name", "divide"))].count == 1
    failed_spans = [s for s in mcp_client.finished() if s.attributes.get("error.type") == "tool_error"]
    assert sorted(s.kind.name for s in failed_spans) == ["CLIENT", "SERVER"]
    assert all(s.status.status_code.name == "ERROR" for s in failed_spans)
    assert run.errors == 1
    server_points = [
        p for p in mcp_client.metric_points("mcp.server.operation.duration") if p.attributes.get("error.type")
    ]
    assert [(p.attributes["error.type"], p.count) for p in server_points] == [("tool_error", 1)]


def test_a_framework_tool_run_gets_the_mcp_attributes_instead_of_a_second_span(mcp_client):
    @agentmetrics.tool(name="add")
    async def add_through_mcp(client: Client, a: int, b: int) -> Any:
        return await client.call_tool("add", {"a": a, "b": b})

    async def go() -> Any:
        async with Client(server) as client:
            return await add_through_mcp(client, 2, 3)

    result = asyncio.run(go())
    assert result.structured_content == {"result": 5}
    spans = by_name(mcp_client)
    (tool_span,) = spans["execute_tool add"]
    (server_span,) = spans["tools/call add"]
    assert server_span.kind == SpanKind.SERVER and server_span.parent.span_id == tool_span.context.span_id
    assert tool_span.attributes["mcp.method.name"] == "tools/call"


def test_stdio_servers_get_the_opentelemetry_settings(mcp_client, monkeypatch):
    from mcp.client import stdio

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("AGENTMETRICS_STORE", "false")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "the-client")
    environment = stdio.get_default_environment()
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:1"
    assert environment["AGENTMETRICS_STORE"] == "false"
    assert "OTEL_SERVICE_NAME" not in environment  # the server is another service


def test_uninstrument_restores_the_sdk(otel):
    from mcp.client import stdio
    from mcp.client.session import ClientSession
    from mcp.server._otel import OpenTelemetryMiddleware
    from mcp.shared import jsonrpc_dispatcher

    originals = (
        ClientSession.send_request,
        OpenTelemetryMiddleware.__call__,
        jsonrpc_dispatcher.otel_span,
        stdio.get_default_environment,
    )
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        instrumentor = MCPInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert ClientSession.send_request is not originals[0]
        instrumentor.uninstrument()
    assert (
        ClientSession.send_request,
        OpenTelemetryMiddleware.__call__,
        jsonrpc_dispatcher.otel_span,
        stdio.get_default_environment,
    ) == originals


def test_a_json_rpc_error_answer_is_the_error_on_both_sides(mcp_client):
    from mcp.shared.exceptions import MCPError

    async def go() -> MCPError:
        async with Client(server) as client:
            with pytest.raises(MCPError) as caught:
                await client.read_resource("file:///missing")
            return caught.value

    error = asyncio.run(go())
    assert error.error.code == -32602  # the caller gets the SDK's own exception, unchanged
    client_span, server_span = sorted(by_name(mcp_client)["resources/read"], key=lambda s: -s.kind.value)
    assert (client_span.kind, server_span.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert server_span.parent.span_id == client_span.context.span_id
    for span in (client_span, server_span):
        assert span.attributes["mcp.resource.uri"] == "file:///missing"
        assert span.attributes["error.type"] == "-32602"
        assert span.attributes["rpc.response.status_code"] == "-32602"
        assert span.status.status_code.name == "ERROR"
    (point,) = [
        p
        for p in mcp_client.metric_points("mcp.client.operation.duration")
        if p.attributes.get("mcp.method.name") == "resources/read"
    ]
    assert point.attributes["error.type"] == "-32602" and point.count == 1
