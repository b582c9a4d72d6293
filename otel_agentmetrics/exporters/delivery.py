"""Bounded, counted delivery: a backend that is down or slow costs telemetry, never the app's time or memory.

Spans wait in the SDK's batch queue (``OTEL_BSP_MAX_QUEUE_SIZE``, 2048 by default) and leave it from a
background thread; metrics are cumulative and sent by the periodic reader's thread. What cannot be delivered is
dropped, and every drop is counted in ``agentmetrics.export.dropped`` (by signal and ``error.type``) and logged
at most once a minute, so a silent gap in a dashboard has a visible cause. Drops on the way to other destinations
than the local store (an OTLP collector down or refusing) are also kept in a process-wide tally,
:func:`undelivered`, that the store's heartbeat writes, so the report, the dashboard and ``/health`` show them.
At exit the final flush gets a time budget, so a hung collector cannot hold the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .. import _fork
from .. import semconv as sc
from .._config import ConfigError
from ..version import __version__

logger = logging.getLogger("otel_agentmetrics")

QUEUE_FULL = "queue_full"
EXPORT_FAILED = "export_failed"
_WARN_EVERY = 60.0

_undelivered: dict[tuple[str, str], int] = {}
_undelivered_lock = threading.Lock()


def undelivered() -> dict[tuple[str, str], int]:
    """What this process could not deliver so far, by (signal, destination): ``{("traces", "otlp"): 12}``.
    Losses of a destination that counts its own (the local store's ``dropped_spans``) are not in it."""
    with _undelivered_lock:
        return dict(_undelivered)


@_fork.on_fork_in_child
def _reset_undelivered_in_child() -> None:
    global _undelivered_lock
    _undelivered_lock = threading.Lock()
    _undelivered.clear()  # the child's own losses only


class DropCounter:
    """The ``agentmetrics.export.dropped`` counter, created on first use from the global meter provider."""

    def __init__(self, signal: str, destination: str, tallied: bool = True) -> None:
        self.signal = signal  # "traces" or "metrics", as OTEL_*_EXPORTER name them
        self.destination = destination
        self.tallied = tallied
        """Whether drops go to :func:`undelivered` (not when the destination counts them itself)."""
        self.total = 0
        self._counter: Any = None
        self._last_warning: dict[str, float] = {}
        self._lock = threading.Lock()
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self.total = 0  # the child's own drops

    def add(self, count: int, reason: str) -> None:
        if count <= 0:
            return
        with self._lock:
            self.total += count
            now = time.monotonic()
            warn = now - self._last_warning.get(reason, -_WARN_EVERY) >= _WARN_EVERY
            if warn:
                self._last_warning[reason] = now
        if self.tallied:
            key = (self.signal, self.destination)
            with _undelivered_lock:
                _undelivered[key] = _undelivered.get(key, 0) + count
        try:
            if self._counter is None:
                meter = metrics.get_meter("otel_agentmetrics", __version__)
                self._counter = meter.create_counter(
                    sc.METRIC_EXPORT_DROPPED,
                    unit="{item}",
                    description="Spans and metric points that could not be delivered to an exporter.",
                )
            self._counter.add(count, {sc.EXPORT_SIGNAL: self.signal, sc.ERROR_TYPE: reason})
        except Exception:  # counting must never be the thing that fails
            logger.debug("counting dropped telemetry failed", exc_info=True)
        if warn:
            logger.warning(
                "otel-agentmetrics: dropped %d %s for %s (%s; %d so far). Check that the backend is reachable "
                "(OTEL_EXPORTER_OTLP_ENDPOINT) or raise OTEL_BSP_MAX_QUEUE_SIZE.",
                count,
                {"traces": "spans", "metrics": "metric points"}.get(self.signal, "uploads"),
                self.destination,
                reason,
                self.total,
            )


def lost_counter(exporter: SpanExporter) -> Any:
    """The exporter's own count of what never reached it, if it keeps one (the local store does: its
    ``dropped_spans`` is what ``agentmetrics report``, the dashboard and ``/health`` show)."""
    return getattr(exporter, "count_lost", None)


class CountingSpanExporter(SpanExporter):
    """Wraps a span exporter: spans whose export fails are counted as dropped."""

    def __init__(self, exporter: SpanExporter, dropped: DropCounter, on_export: Any = None) -> None:
        self.exporter = exporter
        self.dropped = dropped
        self._on_export = on_export

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._on_export is not None:
            self._on_export(len(spans))
        try:
            result = self.exporter.export(spans)
        except Exception:
            logger.debug("span exporter %r raised", self.exporter, exc_info=True)
            result = SpanExportResult.FAILURE
            count_lost = lost_counter(self.exporter)
            if count_lost is not None:
                count_lost(len(spans))  # it raised before counting them itself (a FAILURE result is counted there)
        if result is not SpanExportResult.SUCCESS:
            self.dropped.add(len(spans), EXPORT_FAILED)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, plus a count of the spans its full queue pushes out.

    The SDK drops the oldest queued span when the queue is full and only logs it; we keep our own tally of what
    is waiting (spans in, minus spans handed to the exporter) to count those drops exactly.
    """

    def __init__(self, exporter: SpanExporter, destination: str) -> None:
        self._count_lost = lost_counter(exporter)
        self.dropped = DropCounter("traces", destination, tallied=self._count_lost is None)
        self.capacity = _env_positive_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        self._waiting = 0
        self._tally_lock = threading.Lock()
        counting = CountingSpanExporter(exporter, self.dropped, self._handed_over)
        try:
            super().__init__(counting, max_queue_size=self.capacity)
        except ValueError as error:  # the SDK's own check of the OTEL_BSP_* variables
            raise ConfigError(
                f"OTEL_BSP_* settings cannot work: {error} Set OTEL_BSP_MAX_QUEUE_SIZE, "
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_EXPORT_TIMEOUT to positive whole "
                "numbers, the batch no larger than the queue"
            ) from None
        self.flush_in_child = destination == "agentmetrics"
        """Whether a multiprocessing child writes each span as it ends (the local store: a fast local write)."""
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._tally_lock = threading.Lock()
        self._waiting = 0  # the SDK empties the queue in a forked child

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            with self._tally_lock:
                full = self._waiting >= self.capacity
                if not full:
                    self._waiting += 1
            if full:
                self.dropped.add(1, QUEUE_FULL)
                if self._count_lost is not None:
                    self._count_lost(1)
        super().on_end(span)
        if _fork.state.exit_unseen and self.flush_in_child:
            # A multiprocessing child ends through os._exit, or is killed by Pool.terminate(): write it now.
            self.force_flush()

    def _handed_over(self, count: int) -> None:
        with self._tally_lock:
            self._waiting = max(0, self._waiting - count)


class CountingMetricExporter(MetricExporter):
    """Wraps a push metric exporter: points of a failed export are counted as dropped.

    Metrics are cumulative by default, so the next successful export still carries the totals; the count says
    how much of the timeline is missing.
    """

    def __init__(self, exporter: MetricExporter, destination: str) -> None:
        super().__init__(
            preferred_temporality=getattr(exporter, "_preferred_temporality", None),
            preferred_aggregation=getattr(exporter, "_preferred_aggregation", None),
        )
        self.exporter = exporter
        self.dropped = DropCounter("metrics", destination)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        try:
            result = self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            logger.debug("metric exporter %r raised", self.exporter, exc_info=True)
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self.dropped.add(_count_points(metrics_data), EXPORT_FAILED)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def _count_points(metrics_data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def _env_positive_int(name: str, default: int) -> int:
    # The SDK reads the same variable the same way; a bad value falls back to its default there too.
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def shutdown_within(providers: Iterable[Any], seconds: float) -> bool:
    """Shut the providers down together (final flush included) but give up after ``seconds``: a hung backend
    must not hold the process at exit. Returns whether everything finished in time."""

    def run(provider: Any) -> None:
        try:
            provider.shutdown()
        except Exception:
            logger.debug("shutting down %r failed", provider, exc_info=True)

    workers = [threading.Thread(target=run, args=(p,), name="agentmetrics-shutdown", daemon=True) for p in providers]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + seconds
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(worker.is_alive() for worker in workers):
        logger.warning(
            "otel-agentmetrics: telemetry not flushed within %.3g s at exit (backend down or slow); what was still "
            "queued is lost. AGENTMETRICS_SHUTDOWN_TIMEOUT sets this limit.",
            seconds,
        )
        return False
    return True
