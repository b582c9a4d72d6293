"""examples/mcp_two_process.py as a user runs it: the agent and the MCP server it starts, two processes writing to
one store, give one trace from the agent's tool call to the server's model call and its cost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agentmetrics.demo.server import StandInServer

from .examples_kit import run_example, stored_spans

pytest.importorskip("mcp")


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(latency=(0.0, 0.0), chunk_delay=0.0) as srv:
        yield srv


def test_mcp_two_process(server: StandInServer, tmp_path: Path) -> None:
    out = run_example("mcp_two_process.py", server, tmp_path).stdout
    assert out.splitlines() == [
        "Yes: Porto in spring is mild and less crowded than in summer.",
        "1 tool call, 0 errors; the model call it made is the server's",
    ]
    (agent,) = stored_spans(tmp_path, "agent")
    # The tool ran once: the client's span is the tool run; the server's handling is the server's endpoint.
    (client_tool,) = stored_spans(tmp_path, "tool")
    assert (client_tool["service"], client_tool["name"], client_tool["tool_name"]) == (
        "travel-agent",
        "tools/call advise",
        "advise",
    )
    endpoints = {row["route"]: row for row in stored_spans(tmp_path, "request")}
    # mcp 2.x's call_tool lists the tools first (for their output schemas).
    assert (
        {"MCP initialize", "MCP tools/call advise"}
        <= set(endpoints)
        <= {
            "MCP initialize",
            "MCP tools/list",
            "MCP tools/call advise",
        }
    )
    server_tool = endpoints["MCP tools/call advise"]
    assert server_tool["service"] == "travel-mcp-server" and server_tool["ok"] == 1
    (model,) = stored_spans(tmp_path, "model")
    assert agent["service"] == "travel-agent" and model["service"] == "travel-mcp-server"
    # One trace: agent -> client tools/call -> server tools/call -> the server's model call.
    assert client_tool["trace_id"] == server_tool["trace_id"] == model["trace_id"] == agent["trace_id"]
    assert client_tool["parent_id"] == agent["span_id"]
    assert server_tool["parent_id"] == client_tool["span_id"]
    assert model["parent_id"] == server_tool["span_id"]
    assert (model["name"], model["input_tokens"], model["output_tokens"]) == ("chat gpt-4o-mini", 18, 15)
    assert model["cost"] == pytest.approx((18 * 0.15 + 15 * 0.60) / 1e6, rel=1e-9)


def test_a2a_two_process(server: StandInServer, tmp_path: Path) -> None:
    pytest.importorskip("a2a.server.routes")
    from otel_agentmetrics.summary.queries import summary

    out = run_example("a2a_two_process.py", server, tmp_path).stdout
    assert out.splitlines() == [
        "Yes: Porto in spring is mild and less crowded than in summer.",
        "0 model calls here, 0 errors; the advisor's model call is in the same trace",
    ]
    planner, called, remote_run = stored_spans(tmp_path, "agent")
    assert (planner["service"], planner["name"]) == ("travel-planner", "invoke_agent travel-planner")
    assert (called["service"], called["name"], called["agent_name"]) == (
        "travel-planner",
        "invoke_agent advisor",
        "advisor",
    )
    assert (remote_run["service"], remote_run["name"]) == ("travel-advisor", "invoke_agent advisor")
    (endpoint,) = stored_spans(tmp_path, "request")
    assert (endpoint["service"], endpoint["route"], endpoint["ok"]) == (
        "travel-advisor",
        "A2A SendStreamingMessage advisor",
        1,
    )
    (model,) = stored_spans(tmp_path, "model")
    assert model["service"] == "travel-advisor"
    # One trace: the planner's run -> its call of the advisor -> the advisor's endpoint -> its run -> its model call.
    assert len({planner["trace_id"], called["trace_id"], endpoint["trace_id"], remote_run["trace_id"]}) == 1
    assert model["trace_id"] == planner["trace_id"]
    assert called["parent_id"] == planner["span_id"]
    assert endpoint["parent_id"] == called["span_id"]
    assert remote_run["parent_id"] == endpoint["span_id"]
    assert model["parent_id"] == remote_run["span_id"]
    assert (model["name"], model["input_tokens"], model["output_tokens"]) == ("chat gpt-4o-mini", 16, 15)
    assert model["cost"] == pytest.approx((16 * 0.15 + 15 * 0.60) / 1e6, rel=1e-9)
    # The report counts the advisor once: the caller's invocation, whose run holds the remote model call.
    report = summary(tmp_path / "store.sqlite3")
    runs = {stats.name: stats for stats in report.by_agent}
    assert set(runs) == {"travel-planner", "advisor"}
    assert (runs["advisor"].calls, runs["travel-planner"].calls) == (1, 1)
    assert [e.name for e in report.by_endpoint] == ["A2A SendStreamingMessage advisor"]
