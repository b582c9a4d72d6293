"""``LocalStoreSpanExporter``: GenAI spans into the local SQLite store, behind a batch processor.

It runs on the batch processor's worker thread, never on the app's. It never raises: a locked, read-only or full
disk drops the batch, counts the spans in ``dropped_spans`` (also written to the store when it recovers, so the
report shows it) and logs once. Its heartbeat also carries what the process could not deliver elsewhere (an OTLP
collector down), so the report shows those losses too. ``OTEL_TRACES_EXPORTER=agentmetrics`` reaches it through the
``opentelemetry_traces_exporter`` entry point; ``instrument()`` uses it by default.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import _fork
from .. import semconv as sc
from .._guard import internal_error
from ..exporters.delivery import undelivered
from . import store
from .convert import to_row
from .store import SpanRow
from .timeparse import parse_duration

logger = logging.getLogger("otel_agentmetrics")

_PURGE_EVERY_S = 3600.0
_NOT_MODEL_OPS = (
    sc.OP_EXECUTE_TOOL,
    sc.OP_INVOKE_AGENT,
    sc.OP_RETRIEVAL,
    sc.OP_ADD_DOCUMENTS,
    sc.OP_DELETE_DOCUMENTS,
    sc.OP_SEARCH_MEMORY,
    sc.OP_CREATE_MEMORY,
    sc.OP_UPDATE_MEMORY,
    sc.OP_UPSERT_MEMORY,
    sc.OP_DELETE_MEMORY,
)


def retention_from_env() -> float:
    raw = os.environ.get("AGENTMETRICS_STORE_RETENTION")
    if not raw or not raw.strip():
        return store.DEFAULT_RETENTION
    return parse_duration(raw)


class LocalStoreSpanExporter(SpanExporter):
    """Keeps the spans the summary view needs in the SQLite store at ``path`` (default: see ``store``)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        retention: float | None = None,
        busy_timeout_s: float = 5.0,
        process_metrics: bool = False,
    ) -> None:
        self.path = store.resolve_path(path)
        self._sampler: Any = None
        if process_metrics:  # the heartbeat also carries the process's memory and CPU
            from ..process_metrics import Sampler

            self._sampler = Sampler()
        self.busy_timeout_s = busy_timeout_s
        self.retention = retention if retention is not None else retention_from_env()
        self.dropped_spans = 0
        self.active_calls = 0
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._lost_lock = threading.Lock()  # not _lock: that one is held through slow writes
        self._started_ns = time.time_ns()
        self._host = socket.gethostname()
        self._next_purge = 0.0
        self._warned = False
        self._closed = False
        self._inherited: list[sqlite3.Connection] = []
        self._evaluations: deque[dict[str, Any]] = deque(maxlen=_MAX_PENDING_EVALUATIONS)
        _live.add(self)
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        """A forked child is a writer of its own: its own connection (SQLite forbids using the parent's), its own
        heartbeat row and counts."""
        self._lock = threading.Lock()
        self._lost_lock = threading.Lock()
        if self._conn is not None:
            self._inherited.append(self._conn)  # kept, never closed or used: closing it could disturb the parent
            self._conn = None
        self._started_ns = time.time_ns()
        self.dropped_spans = 0
        self.active_calls = 0
        self._next_purge = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        rows, unusable = self._rows(spans)
        service = rows[0].service if rows else None
        with self._lock:
            try:
                conn = self._connection()
                if rows:
                    try:
                        store.insert(conn, rows)
                    except store.UNSTORABLE:  # one row SQLite cannot take must not cost the others theirs
                        unusable += store.insert_each(conn, rows)
                if unusable:
                    self._drop_unusable(unusable)
                self._write_evaluations(conn)
                memory, cpu = self._sampler.sample() if self._sampler is not None else (None, None)
                store.record_writer(
                    conn,
                    self._host,
                    os.getpid(),
                    service,
                    self._started_ns,
                    self.active_calls,
                    self.dropped_spans,
                    memory,
                    cpu,
                    export_dropped=undelivered(),
                )
                if time.monotonic() >= self._next_purge:
                    self._next_purge = time.monotonic() + _PURGE_EVERY_S
                    store.purge(conn, self.retention)
            except (sqlite3.Error, OSError) as error:
                self._drop(len(rows), error)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def count_lost(self, count: int) -> None:
        """Spans that never reached this exporter (its batch queue was full, or the export raised): counted in
        ``dropped_spans`` with its own failures, written with the next heartbeat. Called from the app's threads."""
        with self._lost_lock:
            self.dropped_spans += count

    def _rows(self, spans: Sequence[ReadableSpan]) -> tuple[list[SpanRow], int]:
        """The rows of the spans the store keeps, and how many spans could not become one (each on its own)."""
        rows: list[SpanRow] = []
        unusable = 0
        for span in spans:
            try:
                row = to_row(span)
            except Exception:
                unusable += 1
                internal_error("converting a span for the local store")
                continue
            if row is not None:
                rows.append(row)
        return rows, unusable

    def _drop_unusable(self, count: int) -> None:
        self.count_lost(count)
        log = logger.debug if self._warned else logger.warning
        self._warned = True
        log(
            "otel-agentmetrics: %d span(s) carried values the store cannot keep and were dropped (%d so far); "
            "the other spans were written",
            count,
            self.dropped_spans,
        )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            existed = self.path.exists()
            self._conn = store.connect(self.path, busy_timeout_s=self.busy_timeout_s)
            message = "otel-agentmetrics: recording model and tool calls to %s (view: agentmetrics report)"
            (logger.info if existed else logger.warning)(message, self.path)
        return self._conn

    def _drop(self, count: int, error: Exception) -> None:
        self.count_lost(count)
        if self._conn is not None and not isinstance(error, sqlite3.OperationalError):
            self._reset()
        log = logger.debug if self._warned else logger.warning
        self._warned = True
        log(
            "otel-agentmetrics: could not write %d span(s) to %s (%s); the app goes on, %d dropped so far",
            count,
            self.path,
            error,
            self.dropped_spans,
        )

    def _reset(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()

    def shutdown(self) -> None:
        self.force_flush()
        with self._lock:
            self._closed = True
            if self._conn is not None:  # the last heartbeat: this program stops writing now
                try:
                    store.record_writer(
                        self._conn,
                        self._host,
                        os.getpid(),
                        None,
                        self._started_ns,
                        0,
                        self.dropped_spans,
                        stopped=True,
                        export_dropped=undelivered(),
                    )
                except sqlite3.Error:
                    logger.debug("otel-agentmetrics: could not mark the store writer stopped", exc_info=True)
            self._reset()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._evaluations and not self._closed:
            with self._lock:
                try:
                    self._write_evaluations(self._connection())
                except (sqlite3.Error, OSError):
                    logger.debug("otel-agentmetrics: could not write evaluations", exc_info=True)
        return True

    def add_evaluation(self, row: dict[str, Any]) -> None:
        """Keep an evaluation (see ``evaluations.record_evaluation``) for the next write; bounded."""
        self._evaluations.append(row)

    def _write_evaluations(self, conn: sqlite3.Connection) -> None:
        if not self._evaluations:
            return
        from . import evaluations

        rows = []
        while self._evaluations:
            rows.append(self._evaluations.popleft())
        evaluations.write(conn, rows)

    def mark_stopped(self) -> None:
        """This program stops writing now, though :meth:`shutdown` has not run (an exit whose flush ran out of
        time, waiting on another destination): its uptime ends here. On a connection of its own, since the one in
        use may be held by a write."""
        if self._closed or self._conn is None:
            return  # shut down already, or never wrote: no heartbeat row to end
        try:
            conn = store.connect(self.path, busy_timeout_s=1.0)
            try:
                store.record_writer(
                    conn,
                    self._host,
                    os.getpid(),
                    None,
                    self._started_ns,
                    0,
                    self.dropped_spans,
                    stopped=True,
                    export_dropped=undelivered(),
                )
            finally:
                conn.close()
        except sqlite3.Error:
            logger.debug("otel-agentmetrics: could not mark the store writer stopped", exc_info=True)


_MAX_PENDING_EVALUATIONS = 10_000
_live: weakref.WeakSet[LocalStoreSpanExporter] = weakref.WeakSet()


def add_evaluation(row: dict[str, Any]) -> None:
    """Hand an evaluation to every local store this process writes."""
    for exporter in list(_live):
        exporter.add_evaluation(row)


def mark_stopped_now() -> None:
    """At an exit whose flush ran out of time: every store this process writes to records that it stopped, so
    the report and dashboard do not show a growing uptime for a dead process."""
    for exporter in list(_live):
        exporter.mark_stopped()


def _is_model_call(span: ReadableSpan) -> bool:
    attrs = span.attributes or {}
    operation = attrs.get(sc.OPERATION_NAME)
    return operation is not None and operation not in _NOT_MODEL_OPS and sc.DB_SYSTEM_NAME not in attrs


class ActiveCallsProcessor(SpanProcessor):
    """Counts model calls in flight for the store's heartbeat (spans reach exporters only when they end, so the
    exporter alone cannot know). ``instrument()`` adds it next to the exporter's batch processor."""

    def __init__(self, exporter: LocalStoreSpanExporter) -> None:
        self._exporter = exporter
        self._lock = threading.Lock()
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if _is_model_call(span):
            with self._lock:
                self._exporter.active_calls += 1

    def on_end(self, span: ReadableSpan) -> None:
        if _is_model_call(span):
            with self._lock:
                self._exporter.active_calls = max(0, self._exporter.active_calls - 1)
