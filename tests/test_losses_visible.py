"""Every span the local store never got is counted where users look: the store's ``dropped_spans``, ``agentmetrics
report``, the dashboard page and ``/health``.

The store is real (SQLite in WAL mode); it is made slow the way it gets slow in production, by another process's
connection holding the write lock, so the batch processor's bounded queue fills and drops spans.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_agentmetrics.exporters.delivery import CountingBatchSpanProcessor
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
