"""Exporter construction: the Prometheus endpoint, its names and its errors; console; drop counting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Sequence

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_agentmetrics import _exporters
from otel_agentmetrics._config import ConfigError, resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.exporters.delivery import CountingBatchSpanProcessor
from otel_agentmetrics.exporters.prometheus import start_prometheus_reader
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .replay import Cassette, http_module_of


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_prometheus_endpoint_serves_the_contract_names() -> None:
    reader = start_prometheus_reader("127.0.0.1", 0)
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(TracerProvider(), meter_provider))
    try:
        httpx = http_module_of(openai)
        client = openai.OpenAI(
            api_key="test_openai_api_key",
            http_client=httpx.Client(transport=Cassette("openai/test_chat_completion_with_content").transport(httpx)),
        )
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
        )
        assert reader.url == f"http://127.0.0.1:{reader.port}/metrics"
        text = scrape(reader.url)
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
    lines = text.splitlines()
    assert "# TYPE gen_ai_client_operation_duration_seconds histogram" in lines
    assert "# TYPE gen_ai_client_token_usage histogram" in lines
    input_sum = [
        line
        for line in lines
        if line.startswith("gen_ai_client_token_usage_sum{") and 'gen_ai_token_type="input"' in line
    ]
    assert len(input_sum) == 1 and input_sum[0].endswith(" 12.0"), input_sum
    assert 'gen_ai_request_model="gpt-4o-mini"' in input_sum[0]
    assert 'gen_ai_response_model="gpt-4o-mini-2024-07-18"' in input_sum[0]
    bucket = [line for line in lines if line.startswith("gen_ai_client_operation_duration_seconds_bucket{")]
    assert [line.split('le="')[1].split('"')[0] for line in bucket][:3] == ["0.01", "0.02", "0.04"]
    # Shutting the reader down frees the port (SO_REUSEADDR, as servers use, still refuses a port in LISTEN).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", reader.port))


def test_prometheus_cost_unit_name() -> None:
    """``USD`` is kept as the name's suffix, the name OpenLIT's dashboards query."""
    reader = start_prometheus_reader("127.0.0.1", 0)
    meter_provider = MeterProvider(metric_readers=[reader])
    try:
        Telemetry(TracerProvider(), meter_provider).metrics.cost.record(0.25, {"gen_ai.provider.name": "openai"})
        text = scrape(reader.url)
    finally:
        meter_provider.shutdown()
    assert "# TYPE gen_ai_usage_cost_USD histogram" in text.splitlines()
    assert any(line.startswith("gen_ai_usage_cost_USD_sum{") and line.endswith(" 0.25") for line in text.splitlines())


def test_port_in_use_is_a_config_error_naming_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"127.0.0.1:{port} cannot listen .*prometheus=PORT"):
            _exporters.metric_readers(resolve(prometheus=port))


def test_prometheus_setting_forms() -> None:
    assert resolve(prometheus=True).prometheus_port == 9464
    assert resolve(prometheus=True).prometheus_host == "127.0.0.1"
    settings = resolve(prometheus="0.0.0.0:9100")
    assert (settings.prometheus_host, settings.prometheus_port, settings.metrics_exporters) == (
        "0.0.0.0",
        9100,
        ("prometheus",),
    )
    assert resolve(prometheus=9200).prometheus_port == 9200


def test_exporters_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
    processors = _exporters.span_processors(resolve(store=False))
    assert [type(p).__name__ for p in processors] == ["CountingBatchSpanProcessor", "SimpleSpanProcessor"]
    assert isinstance(processors[0].span_exporter.exporter, HttpSpans)  # type: ignore[attr-defined]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    (processor, _console) = _exporters.span_processors(resolve(store=False))
    assert isinstance(processor.span_exporter.exporter, GrpcSpans)  # type: ignore[attr-defined]
    for p in [*processors, processor, _console]:
        p.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin-typo")
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER: unknown exporter 'zipkin-typo'; use one of"):
        _exporters.span_processors(resolve())


class Wedged(SpanExporter):
    """An exporter stuck on its first batch until released, as one talking to a hung collector is."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append(len(spans))
        self.release.wait(10)
        return SpanExportResult.SUCCESS


def test_full_queue_drops_are_counted_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    wedged = Wedged()
    processor = CountingBatchSpanProcessor(wedged, destination="test")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    for _ in range(5):  # a full batch wakes the worker, which takes it and wedges
        tracer.start_span("s").end()
    for _ in range(500):  # the worker thread may wait for a CPU on a busy machine
        if wedged.batches:
            break
        threading.Event().wait(0.01)
    assert wedged.batches == [5]
    for _ in range(30):
        tracer.start_span("s").end()
    # 10 wait in the queue; the other 20 were dropped.
    assert processor.dropped.total == 20
    wedged.release.set()
    provider.shutdown()
    assert sum(wedged.batches) == 15


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_console_prints_each_span_as_it_ends() -> None:
    result = run_python(
        """
        import otel_agentmetrics
        from opentelemetry import trace
        otel_agentmetrics.instrument(console=True, store=False)
        with trace.get_tracer("app").start_as_current_span("checkout"):
            pass
        print("after the span")
        """
    )
    assert result.returncode == 0, result.stderr
    span_at = result.stdout.index('"name": "checkout"')
    assert span_at < result.stdout.index("after the span")  # printed when it ended, not at exit


def test_configured_providers_pass_through_and_unapplied_exporters_are_reported() -> None:
    result = run_python(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        import otel_agentmetrics
        telemetry = otel_agentmetrics.instrument(prometheus=True, store=False)
        assert trace.get_tracer_provider() is tracer_provider
        from otel_agentmetrics.record import CallRecord
        call = telemetry.start(CallRecord(operation="chat", provider="openai", request_model="m", input_tokens=3))
        call.end()
        assert [s.name for s in spans.get_finished_spans()] == ["chat m"]
        names = [m.name for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics]
        assert "gen_ai.client.operation.duration" in names, names
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "a MeterProvider is already set, so metric exporters prometheus are not added" in result.stderr


def test_otel_metrics_exporter_prometheus_serves_metrics() -> None:
    port = free_port()
    result = run_python(
        f"""
        import urllib.request
        import otel_agentmetrics
        from otel_agentmetrics.record import CallRecord
        telemetry = otel_agentmetrics.instrument(store=False)
        telemetry.start(CallRecord(operation="chat", provider="openai", request_model="m", output_tokens=7)).end()
        text = urllib.request.urlopen("http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        print([line for line in text.splitlines() if line.startswith("gen_ai_client_token_usage_sum")])
        """,
        {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)},
    )
    assert result.returncode == 0, result.stderr
    assert 'gen_ai_token_type="output"' in result.stdout and "} 7.0" in result.stdout


def test_taken_port_stops_instrument_before_any_provider_is_set() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_python(
            f"""
            import otel_agentmetrics
            from opentelemetry import metrics, trace
            try:
                otel_agentmetrics.instrument(prometheus={port}, store=False)
            except otel_agentmetrics.ConfigError as error:
                print(error)
            print(type(trace.get_tracer_provider()).__name__, type(metrics.get_meter_provider()).__name__)
            """
        )
    assert result.returncode == 0, result.stderr
    message, providers = result.stdout.strip().splitlines()
    assert message.startswith(f"Prometheus endpoint 127.0.0.1:{port} cannot listen (Address already in use)")
    assert providers == "ProxyTracerProvider _ProxyMeterProvider"


def test_failed_metric_exports_are_counted() -> None:
    """The real OTLP metric exporter against a port nobody listens on: every point of the export is counted."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    from otel_agentmetrics.exporters.delivery import CountingMetricExporter

    exporter = CountingMetricExporter(
        OTLPMetricExporter(endpoint=f"http://127.0.0.1:{free_port()}/v1/metrics", timeout=1), destination="otlp"
    )
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)])
    histogram = provider.get_meter("test").create_histogram("h")
    for model in ("a", "b", "c"):
        histogram.record(1.0, {"model": model})
    provider.force_flush()
    assert exporter.dropped.total == 3
    provider.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_failed_start_up_frees_the_prometheus_port() -> None:
    port = free_port()
    result = run_python(
        f"""
        import socket
        import otel_agentmetrics
        try:
            otel_agentmetrics.instrument(prometheus={port})
        except otel_agentmetrics.ConfigError as error:
            print(error)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", {port}))
        print("port free")
        """,
        {"OTEL_TRACES_EXPORTER": "no-such-exporter"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "port free"
    assert "OTEL_TRACES_EXPORTER: unknown exporter 'no-such-exporter'" in result.stdout


def test_batch_larger_than_queue_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """(The SDK itself logs and falls back to its default for values that are not numbers.)"""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")  # the batch stays at its default, 512
    with pytest.raises(ConfigError, match=r"^OTEL_BSP_\* settings cannot work: max_export_batch_size must be less"):
        _exporters.span_processors(resolve(store=False, otlp=True))


def test_otlp_timeout_is_honoured_and_failed_span_exports_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our construction leaves ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` to the SDK: a hung collector costs 1 s, counted."""
    from .otlp_receiver import http_receiver

    with http_receiver(hang=True) as (url, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{url}/v1/traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
        (processor,) = _exporters.span_processors(resolve(store=False, otlp=True))
        provider = TracerProvider()
        spans = []
        for name in ("a", "b"):
            span = provider.get_tracer("test").start_span(name)
            span.end()
            spans.append(span)
        started = time.perf_counter()
        result = processor.span_exporter.export(spans)  # type: ignore[attr-defined]
        took = time.perf_counter() - started
        processor.shutdown()
    assert result is SpanExportResult.FAILURE
    assert 0.9 < took < 5, took
    assert processor.dropped.total == 2  # type: ignore[attr-defined]
    assert received.trace_requests == []


class Slow(SpanExporter):
    """An exporter that takes a moment per batch, so the queue fills and empties while spans keep coming."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        threading.Event().wait(0.002)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def test_queue_drops_are_exact_while_the_worker_drains(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every span is either exported or counted as dropped, never both (issue 26: 0-2 in 2000 were counted as
    dropped though exported, when the worker took a batch between the check and the add)."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
    slow = Slow()
    processor = CountingBatchSpanProcessor(slow, destination="test")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    for index in range(2000):
        tracer.start_span("s").end()
        if index % 50 == 0:
            threading.Event().wait(0.001)  # let the worker in
    provider.shutdown()
    assert processor.dropped.total > 0 and slow.exported > 0
    assert slow.exported + processor.dropped.total == 2000
