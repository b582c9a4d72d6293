"""MCP across two real processes, both exporting OTLP to one receiver: one trace from the client's call through the
server and back, on whichever major of ``mcp`` is installed (2.x here, 1.x in the venv of ``tests/mcp1-env.sh``).

Per transport (stdio, streamable HTTP, SSE), an instrumented and a plain client app (``tests/apps/mcp_client.py``) each
talk to an instrumented and a plain server app (``tests/apps/mcp_server.py``): over stdio each client starts its
servers, over HTTP and SSE both clients share two running servers. Over stdio a server exports only because the
instrumented client passes its ``OTEL_*`` settings on (the mcp stdio client passes an allow-list of variables).
Every pairing must give the caller exactly what two plain peers give.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .otlp_receiver import Received, attributes, http_receiver

pytest.importorskip("mcp")

APPS = Path(__file__).parent / "apps"
MODES = ("instrumented", "plain")
CLIENT_SPAN = 3  # SPAN_KIND_CLIENT in the OTLP proto
SERVER_SPAN = 2


def environment(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",  # one final export at exit
            "AGENTMETRICS_RAISE_INTERNAL_ERRORS": "1",  # a bug of ours fails the run instead of hiding
        }
    )
    return env


@contextmanager
def http_server(transport: str, mode: str, env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(APPS / "mcp_server.py"), transport, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("port "), (line, process.stderr.read() if process.poll() is not None else "")
        yield f"http://127.0.0.1:{int(line.split()[1])}/{'mcp' if transport == 'http' else 'sse'}"
    finally:
        process.send_signal(signal.SIGTERM)  # the app stops uvicorn and exits normally: its last export runs
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr


@dataclass
class World:
    transport: str
    seen: dict[str, dict[str, Any]]  # client mode -> server mode -> what the calls returned
    received: Received

    def spans(self, service: str, trace_id: bytes | None = None, roots: bool = False) -> list[Any]:
        return [
            span
            for resource, span in self.received.spans()
            if resource["service.name"] == service
            and (trace_id is None or span.trace_id == trace_id)
            and (not roots or span.parent_span_id == b"")
        ]

    def agent_trace(self, server_mode: str) -> bytes:
        (agent,) = [s for s in self.spans("mcp-client") if s.name == f"invoke_agent mcp-user-{server_mode}"]
        return bytes(agent.trace_id)


@pytest.fixture(scope="module", params=["stdio", "http", "sse"])
def world(request) -> World:
    transport = request.param
    with http_receiver() as (endpoint, received):
        env = environment(endpoint)
        with ExitStack() as servers:
            if transport == "stdio":
                targets = [[mode, mode] for mode in MODES]
            else:
                targets = [[mode, servers.enter_context(http_server(transport, mode, env))] for mode in MODES]
            clients = {
                mode: subprocess.Popen(
                    [sys.executable, str(APPS / "mcp_client.py"), transport, mode, json.dumps(targets)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                for mode in MODES
            }
            seen = {}
            for mode, process in clients.items():
                stdout, stderr = process.communicate(timeout=120)
                assert process.returncode == 0, stderr
                seen[mode] = json.loads(stdout.strip().splitlines()[-1])
    return World(transport, seen, received)


def tool_spans(spans: list[Any], tool: str) -> list[Any]:
    return [
        s
        for s in spans
        if attributes(s.attributes).get("mcp.method.name") == "tools/call"
        and attributes(s.attributes).get("gen_ai.tool.name") == tool
    ]


def test_every_pairing_returns_what_plain_peers_return(world):
    baseline = world.seen["plain"]["plain"]
    assert baseline["tools"] == ["add", "divide"]
    assert baseline["add"]["structured"] == {"result": 5} and baseline["add"]["is_error"] is False
    assert baseline["divide"]["is_error"] is True
    for client in MODES:
        for server in MODES:
            assert world.seen[client][server] == baseline, (client, server)


def test_both_instrumented_one_trace(world):
    trace_id = world.agent_trace("instrumented")
    client, server = world.spans("mcp-client", trace_id), world.spans("mcp-server", trace_id)
    # Only our spans: mcp 2.x's own (it traces itself) are handed off or folded, one span per request per side.
    scopes = {s.scope.name for r in world.received.trace_requests for rs in r.resource_spans for s in rs.scope_spans}
    assert scopes == {"otel_agentmetrics"}

    (client_call,) = tool_spans(client, "add")
    client_attrs = attributes(client_call.attributes)
    assert client_call.name == "tools/call add" and client_call.kind == CLIENT_SPAN
    assert client_attrs["gen_ai.operation.name"] == "execute_tool"
    assert client_attrs["gen_ai.tool.type"] == "extension"
    assert client_attrs["jsonrpc.request.id"].isdigit()
    assert client_attrs["mcp.protocol.version"] >= "2025-06-18"
    assert "error.type" not in client_attrs
    (server_call,) = tool_spans(server, "add")
    server_attrs = attributes(server_call.attributes)
    assert server_call.name == "tools/call add" and server_call.kind == SERVER_SPAN
    assert server_attrs["gen_ai.operation.name"] == "execute_tool"
    assert server_call.parent_span_id == client_call.span_id
    assert server_attrs["jsonrpc.request.id"] == client_attrs["jsonrpc.request.id"]
    if world.transport != "stdio":
        assert server_attrs["network.transport"] == "tcp"
    if world.transport == "http":  # the Mcp-Session-Id header (SSE keeps its session in the URL)
        assert len(server_attrs["mcp.session.id"]) > 8
    # The tool's own work on the server is a child of the server span.
    (nested,) = [s for s in server if s.name == "execute_tool double"]
    assert nested.parent_span_id == server_call.span_id

    # The failing tool: both sides say tool_error.
    (client_failed,) = tool_spans(client, "divide")
    (server_failed,) = tool_spans(server, "divide")
    assert attributes(client_failed.attributes)["error.type"] == "tool_error"
    assert attributes(server_failed.attributes)["error.type"] == "tool_error"
    assert server_failed.parent_span_id == client_failed.span_id

    # Every client message has its span under the agent run; every server span sits under a client span.
    (agent,) = [s for s in client if s.name == "invoke_agent mcp-user-instrumented"]
    methods = sorted(attributes(s.attributes)["mcp.method.name"] for s in client if s.kind == CLIENT_SPAN)
    assert methods.count("tools/call") == 2 and {"initialize", "tools/list"} <= set(methods)
    assert all(s.parent_span_id == agent.span_id for s in client if s.kind == CLIENT_SPAN)
    client_ids = {s.span_id for s in client}
    assert all(s.parent_span_id in client_ids for s in server if s.kind == SERVER_SPAN)


def test_mcp_metrics(world):
    def points(name: str) -> dict[tuple[tuple[str, Any], ...], int]:
        out: dict[tuple[tuple[str, Any], ...], int] = {}
        for metric in world.received.metrics(name):
            for point in metric.histogram.data_points:
                key = tuple(sorted(attributes(point.attributes).items()))
                out[key] = out.get(key, 0) + point.count
        return out

    client = points("mcp.client.operation.duration")
    calls = {
        key["gen_ai.tool.name"]: (key.get("error.type"), n)
        for key, n in ((dict(k), n) for k, n in client.items())
        if "gen_ai.tool.name" in key
    }
    # The instrumented client called each tool twice: once per server.
    assert calls == {"add": (None, 2), "divide": ("tool_error", 2)}
    server = points("mcp.server.operation.duration")
    served = sum(
        n for k, n in server.items() if dict(k).get("gen_ai.tool.name") == "divide" and dict(k).get("error.type")
    )
    # The instrumented server served divide to the instrumented client, and over HTTP/SSE to the plain one too.
    assert served == (1 if world.transport == "stdio" else 2)


def test_instrumented_client_plain_server(world):
    trace_id = world.agent_trace("plain")
    (client_call,) = tool_spans(world.spans("mcp-client", trace_id), "add")
    assert client_call.kind == CLIENT_SPAN
    assert world.spans("mcp-server", trace_id) == []


def test_plain_client_instrumented_server(world):
    # The plain client's HTTP requests carry a traceparent header (tests/apps/mcp_client.py), its _meta none.
    header_trace = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    served = [s for s in world.spans("mcp-server", header_trace) if s.kind == SERVER_SPAN]
    if world.transport == "stdio":
        # The plain client passed no OTEL_* settings to the server it started: it records, but exports nowhere.
        assert world.spans("mcp-server", roots=True) == [] and served == []
        return
    (server_call,) = tool_spans(served, "add")
    assert server_call.name == "tools/call add"
    assert server_call.parent_span_id == bytes.fromhex("b7ad6b7169203331")  # the HTTP header, as the fallback
    (nested,) = [s for s in world.spans("mcp-server", header_trace) if s.name == "execute_tool double"]
    assert nested.parent_span_id == server_call.span_id
