"""A2A across real processes, all exporting OTLP to one receiver: one trace from the caller's message through the
remote agent's run and its model call.

Two server apps (``tests/apps/a2a_server.py``: an agent that asks the OpenAI stand-in), one instrumented and one
plain, each a process on a free port, started once for the module; two client apps (``tests/apps/a2a_client.py``),
instrumented and plain, each talking to both servers. Every pairing must give the caller exactly what two plain
peers give.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .llm_stand_in import serve_chat
from .otlp_receiver import Received, attributes, http_receiver

pytest.importorskip("a2a.server.routes")

APPS = Path(__file__).parent / "apps"
MODES = ("instrumented", "plain")
CLIENT_SPAN, SERVER_SPAN, INTERNAL_SPAN = 3, 2, 1  # SpanKind in the OTLP proto
STATUS_ERROR = 2
HEADER_TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")  # the plain client's traceparent header
HEADER_PARENT = bytes.fromhex("b7ad6b7169203331")
ANSWER = "This is a test."  # the stand-in's recorded gpt-4o-mini answer


def environment(endpoint: str, openai_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_", "OPENAI_"))}
    env.update(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",  # one final export at exit
            "AGENTMETRICS_RAISE_INTERNAL_ERRORS": "1",  # a bug of ours fails the run instead of hiding
            "OPENAI_BASE_URL": openai_url,
            "OPENAI_API_KEY": "sk-stand-in",
        }
    )
    return env


@contextmanager
def a2a_server(mode: str, env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(APPS / "a2a_server.py"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("port "), (line, process.stderr.read() if process.poll() is not None else "")
        yield f"http://127.0.0.1:{int(line.split()[1])}/"
    finally:
        process.send_signal(signal.SIGTERM)  # the app stops uvicorn and exits normally: its last export runs
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr


@dataclass
class World:
    seen: dict[str, dict[str, Any]]  # client mode -> server mode -> what the calls returned
    received: Received

    def spans(self, service: str, trace_id: bytes | None = None) -> list[Any]:
        return [
            span
            for resource, span in self.received.spans()
            if resource["service.name"] == service and (trace_id is None or span.trace_id == trace_id)
        ]

    def caller(self, server_mode: str) -> Any:
        (agent,) = [s for s in self.spans("a2a-client") if s.name == f"invoke_agent a2a-user-{server_mode}"]
        return agent


@pytest.fixture(scope="module")
def world() -> World:
    with serve_chat() as openai_url, http_receiver() as (endpoint, received):
        env = environment(endpoint, openai_url)
        with a2a_server("instrumented", env) as instrumented, a2a_server("plain", env) as plain:
            targets = json.dumps([["instrumented", instrumented], ["plain", plain]])
            clients = {
                mode: subprocess.Popen(
                    [sys.executable, str(APPS / "a2a_client.py"), mode, targets],
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
    return World(seen, received)


def test_every_pairing_returns_what_plain_peers_return(world):
    baseline = world.seen["plain"]["plain"]
    assert baseline["send"] == {"events": ["task"], "state": "TASK_STATE_COMPLETED", "answer": [ANSWER]}
    assert baseline["get_task"] == "TASK_STATE_COMPLETED"
    assert baseline["fail"] == ["InternalError", "the advisor broke"]
    assert baseline["stream"] == {
        "events": ["task", "status_update", "artifact_update", "status_update"],
        "first_state": "TASK_STATE_SUBMITTED",
    }
    for client in MODES:
        for server in MODES:
            assert world.seen[client][server] == baseline, (client, server)


def by_name(spans: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for span in spans:
        out.setdefault(span.name, []).append(span)
    return out


def test_both_instrumented_one_trace(world):
    agent = world.caller("instrumented")
    trace_id = bytes(agent.trace_id)
    client, server = world.spans("a2a-client", trace_id), world.spans("a2a-server", trace_id)
    # Only our spans: the SDK's own (a span per method of its transports, handlers and queues) stood down.
    scopes = {s.scope.name for r in world.received.trace_requests for rs in r.resource_spans for s in rs.scope_spans}
    assert scopes == {"otel_agentmetrics"}

    # The client: one span per request, under the caller's run. Sends are agent invocations.
    client_names = sorted(s.name for s in client if s.kind == CLIENT_SPAN)
    assert client_names == ["GetTask advisor", "invoke_agent advisor", "invoke_agent advisor", "invoke_agent advisor"]
    assert all(s.parent_span_id == agent.span_id for s in client if s.kind == CLIENT_SPAN)
    sends = sorted((s for s in client if s.name == "invoke_agent advisor"), key=lambda s: s.start_time_unix_nano)
    send, failed, stream = sends
    send_attrs = attributes(send.attributes)
    assert send_attrs["gen_ai.operation.name"] == "invoke_agent"
    assert send_attrs["gen_ai.agent.name"] == "advisor"
    assert send_attrs["rpc.method"] == "SendMessage"
    assert send_attrs["server.address"] == "127.0.0.1" and send_attrs["server.port"] > 0
    assert send_attrs["agentmetrics.a2a.task.state"] == "TASK_STATE_COMPLETED"
    assert "error.type" not in send_attrs
    assert attributes(stream.attributes)["rpc.method"] == "SendStreamingMessage"

    # The server: one SERVER span per request, each under the client's span for it.
    served = by_name(s for s in server if s.kind == SERVER_SPAN)
    assert sorted((name, len(spans)) for name, spans in served.items()) == [
        ("GetTask advisor", 1),
        ("SendMessage advisor", 2),
        ("SendStreamingMessage advisor", 1),
    ]
    client_by_id = {s.span_id: s for s in client}
    for span in (s for s in server if s.kind == SERVER_SPAN):
        parent = client_by_id[span.parent_span_id]
        assert attributes(parent.attributes)["rpc.method"] == attributes(span.attributes)["rpc.method"]
    (send_served,) = [s for s in served["SendMessage advisor"] if s.parent_span_id == send.span_id]
    served_attrs = attributes(send_served.attributes)
    assert served_attrs["gen_ai.agent.name"] == "advisor"
    assert served_attrs["agentmetrics.a2a.task.id"] == send_attrs["agentmetrics.a2a.task.id"]
    assert served_attrs["gen_ai.conversation.id"] == send_attrs["gen_ai.conversation.id"]

    # The agent executor's run under the server span, the model call under the run, rolled up.
    runs = [s for s in server if s.name == "invoke_agent advisor"]
    assert len(runs) == 3  # the two sends that worked and the failing one
    (run,) = [s for s in runs if s.parent_span_id == send_served.span_id]
    run_attrs = attributes(run.attributes)
    assert run.kind == INTERNAL_SPAN and run_attrs["gen_ai.conversation.id"] == send_attrs["gen_ai.conversation.id"]
    (chat,) = [s for s in server if s.name == "chat gpt-4o-mini" and s.parent_span_id == run.span_id]
    chat_attrs = attributes(chat.attributes)
    assert (chat_attrs["gen_ai.usage.input_tokens"], chat_attrs["gen_ai.usage.output_tokens"]) == (12, 5)
    assert chat_attrs["gen_ai.agent.name"] == "advisor"
    assert run_attrs["agentmetrics.agent.model_calls"] == 1
    assert run_attrs["agentmetrics.agent.cost"] == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6, rel=1e-9)
    (stream_served,) = served["SendStreamingMessage advisor"]
    assert stream_served.parent_span_id == stream.span_id
    assert [s for s in runs if s.parent_span_id == stream_served.span_id]

    # The failing executor: marked on the caller's span, the server's, and the run.
    failed_attrs = attributes(failed.attributes)
    assert (failed_attrs["error.type"], failed.status.code) == ("InternalError", STATUS_ERROR)
    (failed_served,) = [s for s in served["SendMessage advisor"] if s.parent_span_id == failed.span_id]
    assert attributes(failed_served.attributes)["error.type"] == "RuntimeError"
    assert failed_served.status.code == STATUS_ERROR
    (failed_run,) = [s for s in runs if s.parent_span_id == failed_served.span_id]
    assert attributes(failed_run.attributes)["error.type"] == "RuntimeError"
    assert [e.name for e in failed_run.events] == ["exception"]


def test_a2a_metrics(world):
    def points(name: str, service: str) -> dict[tuple[tuple[str, Any], ...], int]:
        out: dict[tuple[tuple[str, Any], ...], int] = {}
        for request in world.received.metric_requests:
            for resource_metrics in request.resource_metrics:
                if attributes(resource_metrics.resource.attributes)["service.name"] != service:
                    continue
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.name == name:
                            for point in metric.histogram.data_points:
                                key = tuple(sorted(attributes(point.attributes).items()))
                                out[key] = out.get(key, 0) + point.count
        return out

    def key(method: str, error: str | None = None) -> tuple[tuple[str, Any], ...]:
        found = {"gen_ai.agent.name": "advisor", "rpc.method": method}
        if error:
            found["error.type"] = error
        return tuple(sorted(found.items()))

    # The instrumented client called each server once per request.
    assert points("agentmetrics.a2a.client.duration", "a2a-client") == {
        key("SendMessage"): 2,
        key("SendMessage", "InternalError"): 2,
        key("GetTask"): 2,
        key("SendStreamingMessage"): 2,
    }
    # The instrumented server served both clients.
    assert points("agentmetrics.a2a.server.duration", "a2a-server") == {
        key("SendMessage"): 2,
        key("SendMessage", "RuntimeError"): 2,
        key("GetTask"): 2,
        key("SendStreamingMessage"): 2,
    }


def test_instrumented_client_plain_server(world):
    agent = world.caller("plain")
    client = world.spans("a2a-client", bytes(agent.trace_id))
    assert sorted(s.name for s in client if s.kind == CLIENT_SPAN) == [
        "GetTask advisor",
        "invoke_agent advisor",
        "invoke_agent advisor",
        "invoke_agent advisor",
    ]
    assert world.spans("a2a-server", bytes(agent.trace_id)) == []


def test_plain_client_instrumented_server(world):
    # The plain client's requests carry a traceparent header and nothing else of ours: the server continues it.
    served = [s for s in world.spans("a2a-server", HEADER_TRACE) if s.kind == SERVER_SPAN]
    assert sorted(s.name for s in served) == [
        "GetTask advisor",
        "SendMessage advisor",
        "SendMessage advisor",
        "SendStreamingMessage advisor",
    ]
    assert {s.parent_span_id for s in served} == {HEADER_PARENT}
    runs = [s for s in world.spans("a2a-server", HEADER_TRACE) if s.name == "invoke_agent advisor"]
    assert {s.parent_span_id for s in runs} <= {s.span_id for s in served} and len(runs) == 3
