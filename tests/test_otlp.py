"""The real OTLP exporters, configured only by ``OTEL_EXPORTER_OTLP_*``, deliver everything to a real receiver.

An instrumented program (``tests/apps/chat_loop.py``: the real openai client against a loopback stand-in that
answers with recorded responses) runs in its own process and exits normally; the receiver in this process
decodes what arrives with the official opentelemetry-proto messages. Metrics use a long export interval, so the
points asserted here are the ones the final flush at exit sent: nothing is lost on shutdown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .llm_stand_in import serve_chat
from .otlp_receiver import Received, attributes, grpc_receiver, http_receiver

APP = Path(__file__).parent / "apps" / "chat_loop.py"
ROUNDS = 3


def run_app(base_url: str, env: dict[str, str], options: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    full_env.update({"OTEL_METRIC_EXPORT_INTERVAL": "600000", "OTEL_SERVICE_NAME": "otlp-test", **env})
    result = subprocess.run(
        [sys.executable, str(APP), base_url, json.dumps(options)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]) | {"stderr": result.stderr}


def assert_everything_arrived(received: Received) -> None:
    spans = received.spans()
    names = sorted(span.name for _, span in spans)
    assert names == sorted(["chat gpt-4o-mini", "chat gpt-4", "chat this-model-does-not-exist"] * ROUNDS)
    resource, _ = spans[0]
    assert resource["service.name"] == "otlp-test"
    plain = [span for _, span in spans if span.name == "chat gpt-4o-mini"][0]
    plain_attrs = attributes(plain.attributes)
    assert plain_attrs["gen_ai.provider.name"] == "openai"
    assert plain_attrs["gen_ai.usage.input_tokens"] == 12
    assert plain_attrs["gen_ai.usage.output_tokens"] == 5
    assert plain_attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert plain.kind == plain.SPAN_KIND_CLIENT
    failed = [span for _, span in spans if span.name == "chat this-model-does-not-exist"][0]
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    assert attributes(failed.attributes)["error.type"] == "NotFoundError"

    # One final cumulative export at exit carries every call.
    (duration,) = received.metrics("gen_ai.client.operation.duration")
    assert duration.unit == "s"
    by_model = {attributes(p.attributes)["gen_ai.request.model"]: p for p in duration.histogram.data_points}
    assert {model: p.count for model, p in by_model.items()} == {
        "gpt-4o-mini": ROUNDS,
        "gpt-4": ROUNDS,
        "this-model-does-not-exist": ROUNDS,
    }
    assert attributes(by_model["this-model-does-not-exist"].attributes)["error.type"] == "NotFoundError"
    assert list(by_model["gpt-4"].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    (tokens,) = received.metrics("gen_ai.client.token.usage")
    token_sums = {
        (attributes(p.attributes)["gen_ai.request.model"], attributes(p.attributes)["gen_ai.token.type"]): (
            p.count,
            p.sum,
        )
        for p in tokens.histogram.data_points
    }
    assert token_sums[("gpt-4o-mini", "input")] == (ROUNDS, 12 * ROUNDS)
    assert token_sums[("gpt-4o-mini", "output")] == (ROUNDS, 5 * ROUNDS)
    (first_chunk,) = received.metrics("gen_ai.client.operation.time_to_first_chunk")
    assert [p.count for p in first_chunk.histogram.data_points] == [ROUNDS]


def test_http_protobuf_with_headers_compression_and_per_signal_endpoint() -> None:
    with serve_chat() as base_url, http_receiver() as (traces_url, traces), http_receiver() as (url, received):
        run_app(
            base_url,
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                # Per-signal override: traces go elsewhere, to the exact URL given.
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{traces_url}/custom/traces",
                "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20secret,x-tenant=acme",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            },
            {"rounds": ROUNDS, "instrument": {"otlp": True, "store": False}},
        )
    received.trace_requests = traces.trace_requests
    assert_everything_arrived(received)
    assert set(traces.paths) == {"/custom/traces"}
    assert set(received.paths) == {"/v1/metrics"}
    for headers in traces.headers + received.headers:
        assert headers["authorization"] == "Bearer secret"
        assert headers["x-tenant"] == "acme"
        assert headers["content-encoding"] == "gzip"
        assert headers["content-type"] == "application/x-protobuf"


def test_grpc_chosen_by_the_standard_variables() -> None:
    with serve_chat() as base_url, grpc_receiver() as (url, received):
        run_app(
            base_url,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            },
            {"rounds": ROUNDS},
        )
    assert_everything_arrived(received)
    assert {h["x-tenant"] for h in received.headers} == {"acme"}
    # (gRPC servers in Python do not expose the request's compression; the HTTP test checks gzip on the wire.)


def test_per_signal_protocol() -> None:
    """``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` picks the traces exporter on its own; metrics follow the general one."""
    with serve_chat() as base_url, grpc_receiver() as (traces_url, traces), http_receiver() as (metrics_url, metrics):
        run_app(
            base_url,
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_url,
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{metrics_url}/v1/metrics",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
            {"rounds": ROUNDS, "calls": ["plain"], "instrument": {"otlp": True, "store": False}},
        )
    assert [span.name for _, span in traces.spans()] == ["chat gpt-4o-mini"] * ROUNDS
    assert metrics.trace_requests == [] and traces.metric_requests == []
    (duration,) = metrics.metrics("gen_ai.client.operation.duration")
    assert [p.count for p in duration.histogram.data_points] == [ROUNDS]
