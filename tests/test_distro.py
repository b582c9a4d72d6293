"""``opentelemetry-instrument python app.py`` with our package installed and nothing else configured."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .otlp_receiver import attributes, grpc_receiver, http_receiver
from .recorded_server import serve_cassette

APP = Path(__file__).parent / "apps" / "openai_app.py"


def run_instrumented(base_url: str, app: Path = APP, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(
        OPENAI_BASE_URL=f"{base_url}/v1",
        OPENAI_API_KEY="test_openai_api_key",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="console",
        OTEL_METRIC_EXPORT_INTERVAL="600000",
        # The contrib OpenAI instrumentation may be installed beside us (benchmarks compare with it).
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
    )
    env.update(extra_env)
    command = (
        shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) or "opentelemetry-instrument"
    )
    return subprocess.run([command, sys.executable, str(app)], capture_output=True, text=True, env=env, timeout=90)


def console_spans(stdout: str) -> list[dict]:
    """The JSON objects the console span exporter printed, one per span."""
    spans, depth, buffer = [], 0, []
    for line in stdout.splitlines():
        if depth == 0 and line.startswith("{"):
            buffer = []
        if depth or line.startswith("{"):
            buffer.append(line)
            depth += line.count("{") - line.count("}")
            if depth == 0:
                obj = json.loads("\n".join(buffer))
                if "context" in obj and "name" in obj:
                    spans.append(obj)
    return spans


def test_unmodified_script_is_instrumented_and_exported() -> None:
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        result = run_instrumented(base_url)
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    spans = console_spans(result.stdout)
    assert [span["name"] for span in spans] == ["chat gpt-4o-mini"]
    attributes = spans[0]["attributes"]
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["server.address"] == "127.0.0.1"
    # Metrics are configured too: the console metric exporter flushes at exit.
    assert '"name": "gen_ai.client.operation.duration"' in result.stdout


def test_disabled_instrumentations_switches_ours_off() -> None:
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        result = run_instrumented(base_url, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai,agentmetrics_openai")
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    assert console_spans(result.stdout) == []


def test_agentmetrics_tools_are_traced_under_opentelemetry_instrument() -> None:
    result = run_instrumented(
        "http://127.0.0.1:9",
        app=APP.parent / "tool_app.py",
        AGENTMETRICS_TOOLS="toolbox:lookup",
        PYTHONPATH=str(APP.parent),
    )
    assert result.returncode == 0, result.stderr
    assert "tool said: sunny in Paris" in result.stdout
    spans = console_spans(result.stdout)
    assert [span["name"] for span in spans] == ["execute_tool lookup"]
    assert spans[0]["attributes"]["gen_ai.tool.name"] == "lookup"


def test_a_bad_setting_is_one_line_and_the_program_still_runs() -> None:
    # As any failed auto-instrumentation: the user's program runs (without our telemetry), and the reason is one
    # line naming the fix, not a traceback from the configurator and another from each instrumentor.
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        result = run_instrumented(base_url, AGENTMETRICS_STREAM_USAGE="maybe")
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    assert result.stderr.splitlines() == [
        "otel-agentmetrics: AGENTMETRICS_STREAM_USAGE='maybe' is not a boolean; set it to true or false "
        "(or 1/0, yes/no, on/off); no telemetry from otel-agentmetrics in this run"
    ]
    assert console_spans(result.stdout) == []
# --- The standard zero-code OTLP setup: only OTEL_EXPORTER_OTLP_ENDPOINT set ----------------------------------

COST = 12 * 0.15e-6 + 5 * 0.60e-6  # gpt-4o-mini: $0.15 in, $0.60 out per million tokens


def first_distro() -> str:
    """The distro opentelemetry-instrument picks when OTEL_PYTHON_DISTRO is unset: the first entry point."""
    from importlib.metadata import entry_points

    return next(iter(entry_points(group="opentelemetry_distro"))).name


def run_endpoint_only(base_url: str, endpoint: str, store: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(
        OPENAI_BASE_URL=f"{base_url}/v1",
        OPENAI_API_KEY="test_openai_api_key",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        AGENTMETRICS_STORE=str(store),
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",  # the contrib OpenAI instrumentation, if installed
    )
    env.update(extra_env)
    command = (
        shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) or "opentelemetry-instrument"
    )
    return subprocess.run([command, sys.executable, str(APP)], capture_output=True, text=True, env=env, timeout=90)


def stored_span_names(store: Path) -> list[str]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM spans")]


@pytest.mark.parametrize(
    "distro",
    [
        None,  # whichever comes first, as a user who set nothing gets
        "agentmetrics",
        "distro",  # opentelemetry-distro's: OTLP over gRPC, no local store
        "only-ours",  # no configurator runs: as with only this package installed
    ],
)
def test_endpoint_alone_delivers_one_span_with_tokens_and_cost(distro: str | None, tmp_path: Path) -> None:
    picked = distro or first_distro()
    extra: dict[str, str] = {}
    if distro in ("agentmetrics", "distro"):
        extra["OTEL_PYTHON_DISTRO"] = distro
    if distro == "only-ours":
        # The SDK's configurator (from opentelemetry-distro) is skipped, so the providers are ours.
        extra.update(OTEL_PYTHON_DISTRO="agentmetrics", OTEL_PYTHON_CONFIGURATOR="agentmetrics")
    receiver = grpc_receiver if picked == "distro" else http_receiver
    store = tmp_path / "store.db"
    with serve_cassette("openai/test_chat_completion_with_content") as base_url, receiver() as (endpoint, received):
        result = run_endpoint_only(base_url, endpoint, store, **extra)
        spans = [span for _, span in received.spans()]
        token_points = [
            (attributes(point.attributes)["gen_ai.token.type"], point.sum, point.count)
            for metric in received.metrics("gen_ai.client.token.usage")
            for point in metric.histogram.data_points
        ]
        cost_points = [
            (point.sum, point.count)
            for metric in received.metrics("gen_ai.usage.cost")
            for point in metric.histogram.data_points
        ]
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    assert "not loaded" not in result.stderr.replace("not loaded because agentmetrics is set", "")
    assert "Overriding of current" not in result.stderr
    assert [span.name for span in spans] == ["chat gpt-4o-mini"]
    span_attributes = attributes(spans[0].attributes)
    assert span_attributes["gen_ai.usage.input_tokens"] == 12
    assert span_attributes["gen_ai.usage.output_tokens"] == 5
    assert span_attributes["gen_ai.usage.cost"] == pytest.approx(COST, rel=1e-9)
    assert sorted(token_points) == [("input", 12, 1), ("output", 5, 1)]
    assert [(pytest.approx(COST, rel=1e-9), 1)] == cost_points
    # Our distro adds the local summary store, our documented default; opentelemetry-distro's does not.
    assert stored_span_names(store) == ([] if picked == "distro" else ["chat gpt-4o-mini"])


def test_an_explicit_exporter_wins_over_the_defaults(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    with (
        serve_cassette("openai/test_chat_completion_with_content") as base_url,
        http_receiver() as (endpoint, received),
    ):
        result = run_endpoint_only(
            base_url,
            endpoint,
            store,
            OTEL_TRACES_EXPORTER="console",
            OTEL_METRICS_EXPORTER="none",
            OTEL_PYTHON_DISTRO="agentmetrics",
        )
        assert received.trace_requests == [] and received.metric_requests == []
    assert result.returncode == 0, result.stderr
    assert [span["name"] for span in console_spans(result.stdout)] == ["chat gpt-4o-mini"]
    assert stored_span_names(store) == []


# --- No collector at all, under whichever configurator built the pipeline (issue 26) ----------------------------


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("distro", ["agentmetrics", "distro"])
def test_no_collector_is_one_line_no_exit_wait_and_counted(distro: str, tmp_path: Path) -> None:
    """opentelemetry-distro's configurator builds the OTLP pipeline with the SDK's plain processor and reader
    (under our distro too: we register no configurator). Their losses are counted and reach the store, the
    exporters' retries are not attempted against a refused connection, and the user reads one line."""
    import time

    store = tmp_path / "store.db"
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(
        OPENAI_API_KEY="test_openai_api_key",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_EXPORTER_OTLP_TIMEOUT="30",  # the exporters' own retries would take that long
        AGENTMETRICS_STORE=str(store),
        OTEL_PYTHON_DISTRO=distro,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
        # The answer line is read when printed: block-buffered, it would come with the flush at the very end of
        # the exit, after the exit hooks whose wait this test measures.
        PYTHONUNBUFFERED="1",
    )
    command = (
        shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) or "opentelemetry-instrument"
    )
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        env["OPENAI_BASE_URL"] = f"{base_url}/v1"
        process = subprocess.Popen(
            [command, sys.executable, str(APP)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            answer = process.stdout.readline()
            answered = time.perf_counter()
            process.wait(timeout=60)
            exit_lag = time.perf_counter() - answered
            stderr = process.stderr.read()
        finally:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert answer.startswith("answer: This is a test.")
    # The flush at exit does not wait on a refused collector (it retried for the 30 s of OTEL_EXPORTER_OTLP_TIMEOUT);
    # what is left is the interpreter's own exit, seconds on a loaded machine.
    assert exit_lag < 15, (exit_lag, stderr)
    assert "Transient error" not in stderr and "not flushed" not in stderr, stderr
    assert "A shutdown `MeterProvider`" not in stderr
    refused = [line for line in stderr.splitlines() if "connection refused" in line]
    assert len(refused) == 1, stderr
    assert f"127.0.0.1:{port}" in refused[0] and "OTEL_EXPORTER_OTLP_ENDPOINT" in refused[0]
    if distro == "agentmetrics":  # our distro adds the store, which shows what the collector never got
        from otel_agentmetrics.summary.queries import summary

        assert summary(store).export_dropped.get("traces") == {"otlp": 1}


class VanishingCollector:
    """A collector that goes away as the first export reaches it: it takes the exporter's connection, reads its
    first bytes, then closes it and stops listening, so the exporter's retries of that export meet a refused
    connection. Connections that send nothing (our reachability probe, the app's check) are let be."""

    def __init__(self) -> None:
        import socket
        import threading

        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.gone = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.gone.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if data:  # an exporter's request (HTTP POST or the HTTP/2 preface): go away now
                    self.listener.close()
                    self.gone.set()

    def close(self) -> None:
        self.gone.set()
        self.listener.close()
        self.thread.join(5)


@pytest.mark.parametrize("distro", ["agentmetrics", "distro", "only-ours"])
def test_an_export_in_flight_when_the_collector_goes_away_does_not_hold_exit(distro: str, tmp_path: Path) -> None:
    """The race of issue 26 made deterministic: the first export was on its way when the collector went away,
    so our check before it found the collector listening and the exporter is retrying a refused connection when
    the program exits. The SDK's shutdown waits for that export (up to 30 s) before it stops the exporter, ours
    for AGENTMETRICS_SHUTDOWN_TIMEOUT (5 s, then "not flushed"); the refused endpoint is given up at exit
    instead."""
    import time

    collector = VanishingCollector()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(
        OPENAI_API_KEY="test_openai_api_key",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_EXPORTER_OTLP_TIMEOUT="60",  # the exporter's retries of one export: 1+2+4+8+16 s, past the 30 s join
        OTEL_BSP_SCHEDULE_DELAY="50",  # the span leaves while the program still runs
        AGENTMETRICS_STORE=str(tmp_path / "store.db"),
        OTEL_PYTHON_DISTRO=distro,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
        PYTHONUNBUFFERED="1",  # the answer line is read when printed, before the exit hooks
    )
    if distro == "only-ours":  # no configurator runs: the pipeline is ours, flushed by our exit hook
        env.update(OTEL_PYTHON_DISTRO="agentmetrics", OTEL_PYTHON_CONFIGURATOR="agentmetrics")
    command = (
        shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) or "opentelemetry-instrument"
    )
    try:
        with serve_cassette("openai/test_chat_completion_with_content") as base_url:
            env["OPENAI_BASE_URL"] = f"{base_url}/v1"
            process = subprocess.Popen(
                [command, sys.executable, str(APP.parent / "openai_app_outlives_collector.py")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            try:
                assert process.stdout is not None and process.stderr is not None
                answer = process.stdout.readline()
                answered = time.perf_counter()
                process.wait(timeout=90)
                exit_lag = time.perf_counter() - answered
                stderr = process.stderr.read()
            finally:
                process.kill()
                process.wait()
    finally:
        collector.close()
    assert process.returncode == 0, stderr
    assert answer.startswith("answer: This is a test."), stderr
    assert exit_lag < 15, (exit_lag, stderr)  # it waited 30 s, the SDK's join of the export in flight
    assert "not flushed" not in stderr, stderr  # ours gave up after 5 s
    refused = [line for line in stderr.splitlines() if "connection refused" in line]
    assert len(refused) == 1, stderr
    assert f"127.0.0.1:{collector.port}" in refused[0]
    if distro != "distro":  # with our distro the store shows what the collector never got
        from otel_agentmetrics.summary.queries import summary

        assert summary(tmp_path / "store.db").export_dropped.get("traces") == {"otlp": 1}


@pytest.mark.parametrize("distro", ["agentmetrics", "distro"])
def test_a_live_but_slow_collector_still_gets_the_last_span_at_exit(distro: str, tmp_path: Path) -> None:
    """What is given up at exit is a destination that refuses connections, nothing else: a collector that
    listens but answers late keeps the exporters' standard behaviour, and the span that leaves at exit reaches it."""
    receiver = grpc_receiver if distro == "distro" else http_receiver
    with (
        serve_cassette("openai/test_chat_completion_with_content") as base_url,
        receiver(delay=2.0) as (endpoint, received),
    ):
        result = run_endpoint_only(base_url, endpoint, tmp_path / "store.db", OTEL_PYTHON_DISTRO=distro)
        spans = [span.name for _, span in received.spans()]
    assert result.returncode == 0, result.stderr
    assert spans == ["chat gpt-4o-mini"], result.stderr
    assert "connection refused" not in result.stderr and "not delivered" not in result.stderr, result.stderr
