"""Every span the local store never got is counted where users look: the store's ``dropped_spans``, ``agentmetrics
report``, the dashboard page and ``/health``; and so is what an OTLP collector never got.

The store is real (SQLite in WAL mode); it is made slow the way it gets slow in production, by another process's
connection holding the write lock, so the batch processor's bounded queue fills and drops spans. The collector is
the real OTLP exporter sending to a loopback port nobody listens on.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otel_agentmetrics.exporters import delivery
from otel_agentmetrics.exporters.delivery import CountingBatchSpanProcessor, CountingMetricExporter, DropCounter
from otel_agentmetrics.summary import render, store
from otel_agentmetrics.summary.console import print_summary
from otel_agentmetrics.summary.dashboard import Dashboard
from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter
from otel_agentmetrics.summary.queries import summary

MODEL_CALL = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}


def pipeline(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TracerProvider, CountingBatchSpanProcessor]:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    processor = CountingBatchSpanProcessor(LocalStoreSpanExporter(path, busy_timeout_s=30), destination="agentmetrics")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider, processor


def model_calls(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("app")
    for _ in range(count):
        tracer.start_span("chat gpt-4o-mini", attributes=MODEL_CALL).end()


def test_spans_a_full_queue_drops_reach_the_store_report_dashboard_and_health(tmp_path, monkeypatch):
    path = tmp_path / "spans.sqlite3"
    blocker = store.connect(path)
    blocker.execute("BEGIN IMMEDIATE")  # another process is writing: our writes wait for it
    provider, processor = pipeline(path, monkeypatch)
    model_calls(provider, 5)  # a full batch: the worker takes it and waits on the lock
    deadline = time.monotonic() + 10
    while processor._waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert processor._waiting == 0
    model_calls(provider, 30)  # 10 fit in the queue, 20 are dropped
    assert processor.dropped.total == 20
    blocker.execute("COMMIT")
    blocker.close()
    provider.shutdown()

    s = summary(path)
    assert (s.overall.calls, s.dropped_spans) == (15, 20)
    assert ("Lost spans", "20 not stored (queue full or write failed; see the app's log)") in render.overview(s)
    out = io.StringIO()
    print_summary(s, out)
    assert "20 not stored" in out.getvalue()
    dashboard = Dashboard(path)
    health = dashboard.handle("GET", "/health", {}, {})
    assert health.status == 200
    assert json.loads(health.body)["dropped_spans"] == 20
    page = dashboard.handle("GET", "/", {}, {}).body.decode()
    assert '"dropped_spans": 20' in page and "spans lost (not stored)" in page
    assert json.loads(dashboard.handle("GET", "/api/summary", {}, {}).body)["dropped_spans"] == 20


def test_a_batch_whose_export_raised_is_counted_by_the_store(tmp_path, monkeypatch):
    """An export that raises (rather than returning FAILURE, which the store counts itself) is counted too."""
    path = tmp_path / "spans.sqlite3"
    provider, processor = pipeline(path, monkeypatch)
    insert = store.insert
    failures = [RuntimeError("the disk went away mid-write")]

    def insert_once_broken(conn, rows):
        if failures:
            raise failures.pop()
        insert(conn, rows)

    monkeypatch.setattr(store, "insert", insert_once_broken)
    model_calls(provider, 5)
    processor.force_flush()
    model_calls(provider, 3)
    provider.shutdown()
    s = summary(path)
    assert (s.overall.calls, s.dropped_spans) == (3, 5)
    assert processor.dropped.total == 5


def header_line(page: str, summary_json: dict) -> str:
    """The page's own script (run by Node) drawing the header's part about undelivered telemetry."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    num = re.search(r"^const num = .*;$", page, re.M)
    function = re.search(r"^function undelivered\(s\) \{.*?^\}$", page, re.M | re.S)
    assert num and function
    script = f"{num.group()}\n{function.group()}\nprocess.stdout.write(undelivered({json.dumps(summary_json)}));"
    return subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=20, check=True).stdout


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_what_an_unreachable_collector_never_got_reaches_the_store_report_dashboard_and_health(tmp_path, monkeypatch):
    monkeypatch.setattr(delivery, "_undelivered", {})  # this process's earlier tests dropped some too
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    path = tmp_path / "spans.sqlite3"
    collector = f"http://127.0.0.1:{closed_port()}"
    otlp = CountingBatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector}/v1/traces", timeout=1), "otlp")
    provider = TracerProvider()
    provider.add_span_processor(otlp)  # first: its failed final flush is tallied before the store's last heartbeat
    provider.add_span_processor(CountingBatchSpanProcessor(LocalStoreSpanExporter(path), "agentmetrics"))
    pushes = CountingMetricExporter(OTLPMetricExporter(endpoint=f"{collector}/v1/metrics", timeout=1), "otlp")
    meters = MeterProvider([PeriodicExportingMetricReader(pushes, export_interval_millis=3_600_000)])
    counter = meters.get_meter("app").create_counter("app.calls")
    for route in ("/a", "/b", "/c"):
        counter.add(1, {"route": route})  # three points
    model_calls(provider, 7)
    otlp.force_flush()
    model_calls(provider, 5)
    meters.shutdown()  # its final push fails
    provider.shutdown()
    assert (otlp.dropped.total, pushes.dropped.total) == (12, 3)

    s = summary(path)
    assert (s.overall.calls, s.dropped_spans) == (12, 0)  # the store got every span; the collector none
    assert s.export_dropped == {"traces": {"otlp": 12}, "metrics": {"otlp": 3}}
    assert ("Not delivered", "12 spans to otlp · 3 metric points to otlp") in render.overview(s)
    out = io.StringIO()
    print_summary(s, out)
    assert "12 spans to otlp" in out.getvalue()
    dashboard = Dashboard(path)
    health = dashboard.handle("GET", "/health", {}, {})
    assert health.status == 200
    assert json.loads(health.body)["export_dropped"] == {"traces": {"otlp": 12}, "metrics": {"otlp": 3}}
    page = dashboard.handle("GET", "/", {}, {}).body.decode()
    assert '"export_dropped": {"metrics": {"otlp": 3}, "traces": {"otlp": 12}}' in page
    assert header_line(page, json.loads(dashboard.handle("GET", "/api/summary", {}, {}).body)) == (
        " · 12 spans not delivered to otlp · 3 metric points not delivered to otlp"
    )
    metrics_text = dashboard.handle("GET", "/metrics", {}, {}).body.decode()
    assert 'agentmetrics_export_undelivered_total{signal="traces",destination="otlp"} 12' in metrics_text
    assert 'agentmetrics_export_undelivered_total{signal="metrics",destination="otlp"} 3' in metrics_text


def test_nothing_undelivered_adds_no_report_line(tmp_path, monkeypatch):
    monkeypatch.setattr(delivery, "_undelivered", {})
    path = tmp_path / "spans.sqlite3"
    provider, _ = pipeline(path, monkeypatch)
    model_calls(provider, 2)
    provider.shutdown()
    s = summary(path)
    assert s.export_dropped == {}
    assert "Not delivered" not in [label for label, _ in render.overview(s)]


def test_a_forked_child_tallies_only_its_own_losses(monkeypatch):
    monkeypatch.setattr(delivery, "_undelivered", {})
    DropCounter("traces", "otlp").add(4, delivery.EXPORT_FAILED)
    DropCounter("traces", "agentmetrics", tallied=False).add(9, delivery.QUEUE_FULL)  # the store counts its own
    assert delivery.undelivered() == {("traces", "otlp"): 4}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        # (a metric reader of another test may push, and fail, in the child as it starts: the child's own loss)
        os._exit(0 if ("traces", "otlp") not in delivery.undelivered() else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert delivery.undelivered() == {("traces", "otlp"): 4}
