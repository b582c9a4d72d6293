"""The core's protocol layer (``otel_agentmetrics/_protocol_layer.py``) on its own: a request record in, its span and
its histogram point out. The MCP and A2A instrumentors fill the same records from the real libraries
(``tests/test_tools_mcp.py``, ``tests/test_a2a.py`` and the two-process tests)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_agentmetrics import semconv as sc
from otel_agentmetrics import tool
from otel_agentmetrics._protocol_layer import A2A, MCP, ProtocolRequest, current_request, start_request
from otel_agentmetrics._runs import call

from .scope_kit import scoped_telemetry


@pytest.fixture
def telemetry(otel):
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        yield telemetry


def histogram(otel, name: str) -> Any:
    (metric,) = [
        m
        for rm in otel.reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
    ]
    return metric


def test_a_served_request_is_a_server_span_and_a_point_with_the_bounded_attributes(otel, telemetry):
    request = ProtocolRequest(MCP, SpanKind.SERVER, "tools/call", target="add", operation=sc.OP_EXECUTE_TOOL)
    request.attributes.update({sc.JSONRPC_REQUEST_ID: "7", sc.MCP_SESSION_ID: "s-1", sc.NETWORK_TRANSPORT: "tcp"})
    run = start_request(telemetry, request)

    def handle() -> int:
        assert current_request() is request
        request.attributes[sc.MCP_PROTOCOL_VERSION] = "2025-06-18"  # read from the answer: set when it ends
        request.attributes["unknown.yet"] = None  # not known: never recorded
        return 5

    assert call(run, handle, (), {}) == 5 and current_request() is None
    span = otel.only_span()
    assert (span.name, span.kind) == ("tools/call add", SpanKind.SERVER)
    assert dict(span.attributes) == {
        sc.MCP_METHOD_NAME: "tools/call",
        sc.TOOL_NAME: "add",
        sc.OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.JSONRPC_REQUEST_ID: "7",
        sc.MCP_SESSION_ID: "s-1",
        sc.NETWORK_TRANSPORT: "tcp",
        sc.MCP_PROTOCOL_VERSION: "2025-06-18",
    }
    metric = histogram(otel, "mcp.server.operation.duration")
    assert (metric.unit, metric.description) == ("s", "Duration of MCP requests as handled by the server.")
    (point,) = metric.data.data_points
    assert list(point.explicit_bounds) == list(sc.MCP_DURATION_BUCKETS) and point.count == 1
    assert dict(point.attributes) == {
        sc.MCP_METHOD_NAME: "tools/call",
        sc.TOOL_NAME: "add",
        sc.NETWORK_TRANSPORT: "tcp",
        sc.MCP_PROTOCOL_VERSION: "2025-06-18",
    }


@pytest.mark.parametrize(
    ("status_code", "raises", "answered", "expected"),
    [
        ("-32602", True, "tool_error", "-32602"),  # the status code first
        (None, True, "tool_error", "LookupError"),  # then what was raised
        (None, False, "tool_error", "tool_error"),  # then what the answer said
    ],
)
def test_error_type_status_code_then_raised_then_answered(otel, telemetry, status_code, raises, answered, expected):
    request = ProtocolRequest(MCP, SpanKind.CLIENT, "resources/read")
    run = start_request(telemetry, request)

    def send() -> None:
        request.status_code, request.error_type = status_code, answered
        if raises:
            raise LookupError("gone")

    with pytest.raises(LookupError) if raises else nullcontext():
        call(run, send, (), {})
    span = otel.only_span()
    assert span.attributes[sc.ERROR_TYPE] == expected and span.status.status_code == StatusCode.ERROR
    assert span.attributes.get(sc.RPC_RESPONSE_STATUS_CODE) == status_code
    (point,) = otel.metric_points("mcp.client.operation.duration")
    assert point.attributes[sc.ERROR_TYPE] == expected
    assert point.attributes.get(sc.RPC_RESPONSE_STATUS_CODE) == status_code


def test_an_a2a_send_is_named_by_its_operation_and_counted_by_method_and_agent(otel, telemetry):
    request = ProtocolRequest(A2A, SpanKind.CLIENT, "SendMessage", target="advisor", name=sc.OP_INVOKE_AGENT)
    request.operation = sc.OP_INVOKE_AGENT
    request.attributes.update({sc.SERVER_ADDRESS: "127.0.0.1", sc.CONVERSATION_ID: "c-1"})
    call(start_request(telemetry, request), lambda: None, (), {})
    span = otel.only_span()
    assert (span.name, span.kind, span.attributes[sc.RPC_METHOD]) == (
        "invoke_agent advisor",
        SpanKind.CLIENT,
        "SendMessage",
    )
    metric = histogram(otel, "agentmetrics.a2a.client.duration")
    assert metric.description == "Duration of A2A requests as seen by the client, by method and remote agent."
    (point,) = metric.data.data_points
    assert dict(point.attributes) == {sc.RPC_METHOD: "SendMessage", sc.AGENT_NAME: "advisor"}


def test_a_client_tool_request_is_the_tool_run_or_goes_on_the_one_already_running(otel, telemetry):
    def tools_call(name: str) -> ProtocolRequest:
        return ProtocolRequest(MCP, SpanKind.CLIENT, "tools/call", target=name, operation=sc.OP_EXECUTE_TOOL)

    call(start_request(telemetry, tools_call("add")), lambda: None, (), {})

    @tool(name="search")
    def search() -> None:  # a framework's tool run, one layer up: the request's attributes go on its span
        request = tools_call("search")
        call(start_request(telemetry, request), lambda: setattr(request, "error_type", sc.ERROR_TYPE_TOOL), (), {})

    search()
    spans = {span.name: span for span in otel.finished()}
    assert set(spans) == {"tools/call add", "execute_tool search"}
    assert spans["tools/call add"].kind == SpanKind.CLIENT
    assert spans["tools/call add"].attributes[sc.TOOL_TYPE] == sc.TOOL_TYPE_EXTENSION
    assert spans["execute_tool search"].attributes[sc.MCP_METHOD_NAME] == "tools/call"
    assert spans["execute_tool search"].attributes[sc.ERROR_TYPE] == sc.ERROR_TYPE_TOOL
    tools = {
        p.attributes[sc.TOOL_NAME]: p.attributes.get(sc.ERROR_TYPE)
        for p in otel.metric_points("agentmetrics.tool.duration")
    }
    assert tools == {"add": None, "search": sc.ERROR_TYPE_TOOL}
    requests = {p.attributes[sc.TOOL_NAME]: p.count for p in otel.metric_points("mcp.client.operation.duration")}
    assert requests == {"add": 1, "search": 1}
