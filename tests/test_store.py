"""The local store exporter: what it keeps, several writers at once, a locked or broken disk, retention."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_agentmetrics._config import ConfigError, resolve
from otel_agentmetrics._exporters import _load, span_processors
from otel_agentmetrics.summary import store, summary
from otel_agentmetrics.summary.exporter import ActiveCallsProcessor, LocalStoreSpanExporter
from otel_agentmetrics.summary.store import default_store_path


def _spans(tracer_provider: TracerProvider) -> list:
    """Spans as an app makes them: a web request, an agent run, a model call, a tool run, plus spans the store
    must ignore (an HTTP client span and a plain internal one)."""
    memory = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = tracer_provider.get_tracer("app")
    with (
        tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER, attributes={"http.route": "/ask"}),
        tracer.start_as_current_span(
            "invoke_agent helper", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}
        ),
    ):
        with (
            tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 30,
                    "gen_ai.usage.cache_read.input_tokens": 64,
                    "gen_ai.usage.cost": 0.0000324,
                    "gen_ai.request.stream": True,
                },
            ),
            tracer.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes={"http.method": "POST"}),
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool search", attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
        ) as tool:
            tool.record_exception(TimeoutError("search backend timed out"))
            tool.set_status(StatusCode.ERROR)
        with tracer.start_as_current_span("parse answer"):
            pass
    return list(memory.get_finished_spans())


def _rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM spans ORDER BY start_ns").fetchall()
    finally:
        conn.close()


def test_keeps_genai_and_request_spans(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spans = _spans(TracerProvider())
    exporter = LocalStoreSpanExporter(path)
    assert exporter.export(spans).name == "SUCCESS"
    rows = _rows(path)
    assert [r["kind"] for r in rows] == ["request", "agent", "model", "tool"]
    request, agent, model, tool = rows
    assert (request["route"], request["ok"]) == ("/ask", 1)
    assert agent["agent_name"] == "helper"
    assert (model["provider"], model["request_model"], model["response_model"]) == (
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (model["input_tokens"], model["output_tokens"], model["cache_read_tokens"]) == (120, 30, 64)
    assert model["cost"] == pytest.approx(0.0000324)
    assert model["stream"] == 1
    assert model["trace_id"] == request["trace_id"] and model["parent_id"] == agent["span_id"]
    assert (tool["ok"], tool["error_type"], tool["error_message"]) == (0, "TimeoutError", "search backend timed out")
    # A retried batch does not count twice.
    assert exporter.export(spans).name == "SUCCESS"
    assert len(_rows(path)) == 4
    exporter.shutdown()


def test_reads_older_convention_names(tmp_path: Path) -> None:
    """Spans from instrumentations on the earlier conventions (gen_ai.system, prompt/completion tokens)."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    attrs = {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku",
        "gen_ai.usage.prompt_tokens": 11,
        "gen_ai.usage.completion_tokens": 7,
        "operation.cost": 0.00004,
    }
    with provider.get_tracer("legacy").start_as_current_span("anthropic.chat", attributes=attrs):
        pass
    path = tmp_path / "s.sqlite3"
    LocalStoreSpanExporter(path).export(memory.get_finished_spans())
    (row,) = _rows(path)
    assert (row["kind"], row["provider"], row["input_tokens"], row["output_tokens"]) == ("model", "anthropic", 11, 7)
    assert row["cost"] == pytest.approx(0.00004)


_WRITER = textwrap.dedent(
    """
    import sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter

    path, count = sys.argv[1], int(sys.argv[2])
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(LocalStoreSpanExporter(path), max_export_batch_size=25))
    tracer = provider.get_tracer("writer")
    for i in range(count):
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1}
        with tracer.start_as_current_span("chat m", attributes=attrs):
            pass
    provider.shutdown()
    """
)


def test_several_processes_write_at_once_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "400"], stderr=subprocess.PIPE) for _ in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    s = summary(path)
    assert s.overall.calls == 1600
    assert s.overall.input_tokens == 1600
    assert s.dropped_spans == 0


def test_locked_store_drops_counts_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    spans = _spans(TracerProvider())
    exporter = LocalStoreSpanExporter(path, busy_timeout_s=0.05)
    assert exporter.export(spans[:1]).name == "SUCCESS"  # creates the store
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    assert exporter.export(spans).name == "FAILURE"  # never raises into the app
    assert time.monotonic() - started < 5
    assert exporter.dropped_spans == 4  # the four spans the store keeps
    other.execute("ROLLBACK")
    other.close()
    assert exporter.export(spans).name == "SUCCESS"
    assert summary(path).dropped_spans == 4  # the count is written once the store is writable again
    exporter.shutdown()


def test_unwritable_path_never_breaks_the_app(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    exporter = LocalStoreSpanExporter(blocker / "s.sqlite3")
    spans = _spans(TracerProvider())
    assert exporter.export(spans).name == "FAILURE"
    assert exporter.export(spans).name == "FAILURE"
    assert exporter.dropped_spans == 8


def test_retention_deletes_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}
    now = time.time_ns()
    for days_ago in (10, 3, 0):
        start = now - days_ago * 86400 * 10**9
        tracer.start_span("chat m", attributes=attrs, start_time=start).end(end_time=start + 10**8)
    LocalStoreSpanExporter(path, retention=7 * 86400).export(memory.get_finished_spans())
    assert len(_rows(path)) == 2


def test_retention_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve().store_retention is None
    assert resolve(store_retention="12h").store_retention == 43200
    monkeypatch.setenv("AGENTMETRICS_STORE_RETENTION", "14d")
    assert resolve().store_retention == 14 * 86400
    monkeypatch.setenv("AGENTMETRICS_STORE_RETENTION", "two weeks")
    with pytest.raises(ConfigError, match="AGENTMETRICS_STORE_RETENTION='two weeks' is not a duration"):
        resolve()


def test_instrument_default_records_to_the_store(tmp_path: Path) -> None:
    settings = resolve(store=tmp_path / "app.sqlite3", store_retention="1d")
    assert settings.traces_exporters == ("agentmetrics",)
    processors = span_processors(settings)
    active = next(p for p in processors if isinstance(p, ActiveCallsProcessor))
    exporter = active._exporter
    assert (exporter.path, exporter.retention) == (tmp_path / "app.sqlite3", 86400)
    for processor in processors:
        processor.shutdown()


def test_calls_in_flight_and_uptime(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    exporter = LocalStoreSpanExporter(path)
    provider = TracerProvider()
    provider.add_span_processor(ActiveCallsProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}
    slow = tracer.start_span("chat m", attributes=attrs)
    tracer.start_span("chat m", attributes=attrs).end()  # exports while the slow one is still in flight
    s = summary(path)
    assert s.active_calls == 1
    assert s.uptime_s is not None and 0 <= s.uptime_s < 60
    slow.end()
    assert summary(path).active_calls == 0


def _uptime(path: Path) -> float | None:
    try:
        return summary(path).uptime_s
    except (FileNotFoundError, sqlite3.OperationalError):  # not created yet, or its schema not yet written
        return None


def test_uptime_ends_when_the_recording_program_exits(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    program = (
        "import otel_agentmetrics, time\n"
        f"otel_agentmetrics.instrument(store={str(path)!r})\n"
        "lookup = otel_agentmetrics.tool(lambda key: key.upper())\n"
        "lookup('a')\n"
        "time.sleep(1.5)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # the heartbeat goes out while the program still runs
    process = subprocess.Popen([sys.executable, "-c", program], env=env)
    try:
        deadline = time.monotonic() + 30
        while not _uptime(path):
            assert time.monotonic() < deadline and process.poll() is None, "no heartbeat while the program ran"
            time.sleep(0.05)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    s = summary(path)
    assert s.uptime_s is None  # it exited a moment ago: no uptime, not "uptime 2s" counting on
    assert [t.name for t in s.by_tool] == ["<lambda>"]


def test_a_store_from_before_the_stopped_column_still_reads_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    old_schema = store.SCHEMA
    for added in (
        "    stopped_ns INTEGER,\n",
        "    memory_bytes INTEGER,\n",
        "    cpu_seconds REAL,\n",
        "    export_dropped TEXT,\n",
    ):
        assert added in old_schema
        old_schema = old_schema.replace(added, "")
    conn.executescript(old_schema)
    conn.execute("INSERT INTO writers VALUES ('h', 1, 's', ?, ?, 0, 0)", (time.time_ns() - 10**9, time.time_ns()))
    conn.commit()
    conn.close()
    old = summary(path)  # read as it is, without the columns
    assert old.uptime_s is not None and old.export_dropped == {}
    store.connect(path).close()  # a writer opens it: the columns are added
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(writers)")]
    assert "stopped_ns" in columns and "export_dropped" in columns
    conn.close()


def test_entry_point_and_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _load("opentelemetry_traces_exporter", "agentmetrics", "TRACES") is LocalStoreSpanExporter
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "otel-agentmetrics" / "spans.sqlite3"
    monkeypatch.setenv("AGENTMETRICS_STORE", str(tmp_path / "mine.db"))
    assert default_store_path() == tmp_path / "mine.db"
