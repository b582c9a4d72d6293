"""A real MLflow tracking server ingests our spans over OTLP: the recipe in docs/operations.md, end to end.

MLflow is large and pins its own dependencies, so it runs from a virtualenv of its own that the test never
imports: ``bash tests/viewers-env.sh`` builds it (from the base interpreter, so it works from inside any
virtualenv) and runs this file. Without that venv the test skips, saying how to build it. The server listens on
127.0.0.1 on a free port, for at most the test's duration.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

import otel_agentmetrics as agentmetrics
from otel_agentmetrics._active import use
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._viewers import cost_attributes
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .scope_kit import PerMillionPricer, openai_client
from .test_agents import run_loop

VENV = Path(
    os.environ.get("TEST_VIEWERS_VENV")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "otel-agentmetrics" / "venv-viewers"
)
MLFLOW = VENV / "bin" / "mlflow"
PYTHON = VENV / "bin" / "python"

if not MLFLOW.exists():
    if os.environ.get("TEST_VIEWERS_REQUIRED"):
        raise RuntimeError(f"tests/viewers-env.sh ran but {MLFLOW} is missing")
    pytest.skip(
        f"MLflow runs from its own venv ({VENV}, not built): bash tests/viewers-env.sh builds it and runs this test",
        allow_module_level=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: Any) -> Any:
    home = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    server = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{home}/mlflow.db",
            "--default-artifact-root",
            str(home / "artifacts"),
        ],
        cwd=home,
        stdout=open(home / "server.log", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env={"PATH": f"{VENV}/bin:/usr/bin:/bin", "HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home}/m.db"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("MLflow did not start: " + (home / "server.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


READ_TRACES = """
import json, sys
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
out = []
for trace in mlflow.search_traces(experiment_ids=[sys.argv[2]], return_type="list"):
    info = trace.info
    out.append({
        "metadata": dict(info.trace_metadata),
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "spans": [
            {"name": s.name, "type": s.span_type, "attributes": {k: v for k, v in s.attributes.items()}}
            for s in trace.data.spans
        ],
    })
print(json.dumps(out, default=str))
"""


def _traces(url: str, experiment_id: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(PYTHON), "-c", READ_TRACES, url, experiment_id], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mlflow_takes_our_spans_tokens_cost_and_the_runs_input(mlflow_server):
    experiment_id = _request(f"{mlflow_server}/api/2.0/mlflow/experiments/create", {"name": "agentmetrics"})[
        "experiment_id"
    ]
    exporter = OTLPSpanExporter(
        endpoint=f"{mlflow_server}/v1/traces", headers={"x-mlflow-experiment-id": experiment_id}, timeout=30
    )
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Not gpt-4o-mini's list price ($0.15/$0.60): MLflow's own repricing would give another figure than ours.
    telemetry = Telemetry(tracer_provider, None, "SPAN_ONLY", PerMillionPricer(1.0, 2.0))
    telemetry.cost_attributes = cost_attributes(("mlflow",))
    use(telemetry)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        with agentmetrics.agent("weather"):
            answer = run_loop(openai_client())
    finally:
        instrumentor.uninstrument()
        use(None)
        tracer_provider.shutdown()

    (trace,) = _traces(mlflow_server, experiment_id)
    kinds = {span["name"]: span["type"] for span in trace["spans"]}
    assert kinds == {
        "invoke_agent weather": "AGENT",
        "chat gpt-4o-mini": "CHAT_MODEL",
        "execute_tool get_current_weather": "TOOL",
    }
    metadata = trace["metadata"]
    print(json.dumps(trace, indent=1)[:6000])  # shown when an assertion below fails
    assert json.loads(metadata["mlflow.trace.tokenUsage"]) == {
        "input_tokens": 75 + 99,
        "output_tokens": 51 + 25,
        "total_tokens": 75 + 99 + 51 + 25,
        "cache_read_input_tokens": 0,
    }
    ours = ((75 + 99) * 1.0 + (51 + 25) * 2.0) / 1e6
    assert json.loads(metadata["mlflow.trace.cost"])["total_cost"] == pytest.approx(ours, rel=1e-9)
    assert "Seattle" in trace["request_preview"]
    assert answer.split()[0] in trace["response_preview"]


def test_mlflow_refuses_spans_without_the_experiment_header(mlflow_server):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    kept = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer_provider.get_tracer("t").start_span("chat gpt-4o-mini").end()
    exporter = OTLPSpanExporter(endpoint=f"{mlflow_server}/v1/traces", timeout=10)
    assert exporter.export(kept.get_finished_spans()) is SpanExportResult.FAILURE
