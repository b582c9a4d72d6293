"""Bounded, counted delivery: a backend that is down or slow costs telemetry, never the app's time or memory.

Spans wait in the SDK's batch queue (``OTEL_BSP_MAX_QUEUE_SIZE``, 2048 by default) and leave it from a
background thread; metrics are cumulative and sent by the periodic reader's thread. What cannot be delivered is
dropped, and every drop is counted in ``agentmetrics.export.dropped`` (by signal and ``error.type``) and logged
at most once a minute, so a silent gap in a dashboard has a visible cause. Drops on the way to other destinations
than the local store (an OTLP collector down or refusing) are also kept in a process-wide tally,
:func:`undelivered`, that the store's heartbeat writes, so the report, the dashboard and ``/health`` show them.
At exit the final flush gets a time budget, so a hung collector cannot hold the process, and a destination that
refuses connections is given up before it (:func:`give_up_refused_destinations`), so none waits on it.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
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

    def prepare(self) -> None:
        """Create the counter now, while the meter provider is up (not at exit, when one asked of a provider that
        was shut down makes the SDK log a warning)."""
        if self._counter is None:
            meter = metrics.get_meter("otel_agentmetrics", __version__)
            self._counter = meter.create_counter(
                sc.METRIC_EXPORT_DROPPED,
                unit="{item}",
                description="Spans and metric points that could not be delivered to an exporter.",
            )

    def add(self, count: int, reason: str, refused: str | None = None) -> None:
        """Count ``count`` items lost for ``reason``; ``refused``: the endpoint that refused the connection."""
        if count <= 0:
            return
        with self._lock:
            self.total += count
            now = time.monotonic()
            warn = now - self._last_warning.get(reason, -_WARN_EVERY) >= _WARN_EVERY
            if warn:
                self._last_warning[reason] = now
        if refused is not None:
            warn = False
            _warn_refused(refused, count, "span" if self.signal == "traces" else "metric point")
        if self.tallied:
            key = (self.signal, self.destination)
            with _undelivered_lock:
                _undelivered[key] = _undelivered.get(key, 0) + count
        try:
            self.prepare()
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


_refused_warned = [-_WARN_EVERY]
_refused_lock = threading.Lock()


def _warn_refused(endpoint: str, count: int, what: str) -> None:
    """One line a minute for every destination that refuses connections, traces and metrics together."""
    with _refused_lock:
        now = time.monotonic()
        if now - _refused_warned[0] < _WARN_EVERY:
            return
        _refused_warned[0] = now
    logger.warning(
        "otel-agentmetrics: nothing listens at %s (connection refused), so %d %s%s not delivered there (counted "
        "in agentmetrics.export.dropped; said at most once a minute). Start a collector there, point "
        "OTEL_EXPORTER_OTLP_ENDPOINT at yours, or set OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER without otlp.",
        endpoint,
        count,
        what,
        " was" if count == 1 else "s were",
    )


class Reachability:
    """Whether a network exporter's destination refuses connections, found with a TCP connect to its host and
    port (at most :data:`PROBE_TIMEOUT` s) before an export, until an export succeeds and again after one fails.

    A refused connection is not worth the exporter's retries (several log lines, and seconds at exit): the
    batch is counted as dropped and not sent. Anything else (a timeout, a name that does not resolve, a TLS
    port) is left to the exporter, which reports it its own way."""

    PROBE_TIMEOUT = 0.5

    def __init__(self, exporter: Any) -> None:
        self.endpoint, self.address = _endpoint_of(exporter)
        self.ok = False
        """The last export succeeded: no probe before the next one (until shutdown starts: then every time)."""
        self.closing = False

    def refused(self) -> bool:
        if (self.ok and not self.closing) or self.address is None:
            return False
        try:
            sock = socket.create_connection(self.address, timeout=self.PROBE_TIMEOUT)
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        with sock:
            try:
                # Nothing listens on a loopback port in the range the system picks local ports from, and it picked
                # that very port for us: the connection met itself (TCP simultaneous open), which is not a collector.
                return bool(sock.getsockname() == sock.getpeername())
            except OSError:
                return False


_destinations: weakref.WeakSet[Any] = weakref.WeakSet()
"""Every counting exporter with a network destination, for :func:`give_up_refused_destinations`."""


def give_up_refused_destinations() -> None:
    """Shutdown is starting: each network destination that refuses connections now is given up, before the final
    flush. The SDK's shutdown waits for an export in flight (up to 30 s) before it stops the exporter, and an export
    that left while the collector was still there retries against the refused connection for as long as its
    timeout allows; stopping the exporter now ends those retries at once. A destination that accepts connections
    (a live collector, however slow) keeps the exporter's own behaviour. Runs at exit, before the providers' own
    exit hooks (:func:`adopt_pipeline` registers it after they were built) and first in ours."""
    for destination in list(_destinations):
        try:
            destination.give_up_if_refused()
        except Exception:
            logger.debug("checking %r at shutdown failed", destination, exc_info=True)


_exit_hook = [False]


def _give_up_refused_at_exit() -> None:
    if not _exit_hook[0]:
        _exit_hook[0] = True
        atexit.register(give_up_refused_destinations)


class _Destination:
    """What the counting exporters share: the reachability of their destination, and giving it up at shutdown."""

    exporter: Any
    dropped: DropCounter

    def _watch(self) -> None:
        self.reachability = Reachability(self.exporter)
        self.given_up = False
        """Shutdown found the destination refusing connections and stopped the exporter (it gets nothing more)."""
        if self.reachability.address is not None:
            _destinations.add(self)

    def give_up_if_refused(self) -> None:
        if self.reachability.closing:
            return
        self.reachability.closing = True  # from now on every export probes first, even after a success
        if not self.reachability.refused():
            return
        self.given_up = True
        try:
            self.exporter.shutdown()  # wakes an export in flight from its retry wait; it then returns a failure
        except Exception:
            logger.debug("stopping %r failed", self.exporter, exc_info=True)

    def _refused(self) -> bool:
        return self.given_up or self.reachability.refused()

    def _lost(self, count: int) -> None:
        """A failed export's items: refused when shutdown found the destination refusing (the export was in
        flight then), else an ordinary failure."""
        self.dropped.add(count, EXPORT_FAILED, refused=self.reachability.endpoint if self.given_up else None)

    def _shut_down_exporter(self, **kwargs: Any) -> None:
        if not self.given_up:  # else it was stopped already
            self.exporter.shutdown(**kwargs)


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "grpc_proxy")


def _endpoint_of(exporter: Any) -> tuple[str, tuple[str, int] | None]:
    """The exporter's endpoint as configured and its (host, port), for the OTLP exporters (HTTP: a URL; gRPC:
    ``host:port``); ``("", None)`` for any other."""
    endpoint = getattr(exporter, "_endpoint", None)
    if not isinstance(endpoint, str) or "otlp" not in type(exporter).__module__:
        return "", None
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return endpoint, None  # the exporter may reach it through a proxy: a direct connect proves nothing
    try:
        parsed = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
        host, port = parsed.hostname, parsed.port
        if port is None:
            port = 443 if parsed.scheme == "https" else 80 if parsed.scheme == "http" else None
    except ValueError:
        return endpoint, None
    if not host or port is None:
        return endpoint, None
    return endpoint, (host, port)


def adopt_pipeline(tracer_provider: Any, meter_provider: Any) -> None:
    """Count the losses of a pipeline another configurator built (opentelemetry-distro's plain
    ``BatchSpanProcessor`` and ``PeriodicExportingMetricReader``, a user's own): its full queue's drops, its failed
    exports, and no export to a destination that refuses connections, exactly as in the pipelines we build
    (none either at exit: see :func:`give_up_refused_destinations`, registered here to run before their own exit
    hooks, since they were built before)."""
    _give_up_refused_at_exit()
    processors = getattr(getattr(tracer_provider, "_active_span_processor", None), "_span_processors", ())
    for processor in processors if isinstance(processors, tuple) else ():
        try:
            _adopt_span_processor(processor)
        except Exception:
            logger.debug("not counting the losses of %r", processor, exc_info=True)
    readers = getattr(meter_provider, "_metric_readers", ())
    for reader in readers if isinstance(readers, list | tuple) else ():
        exporter = getattr(reader, "_exporter", None)
        if not isinstance(reader, PeriodicExportingMetricReader) or exporter is None:
            continue
        try:
            if not isinstance(exporter, CountingMetricExporter):
                exporter = reader._exporter = CountingMetricExporter(exporter, _destination_of(exporter))
            exporter.dropped.prepare()
        except Exception:
            logger.debug("not counting the losses of %r", reader, exc_info=True)


def _adopt_span_processor(processor: Any) -> None:
    if isinstance(processor, CountingBatchSpanProcessor):
        processor.dropped.prepare()
        return
    if not isinstance(processor, BatchSpanProcessor):
        return
    batch: Any = getattr(processor, "_batch_processor", None)
    exporter = getattr(batch, "_exporter", None)
    if exporter is None or isinstance(exporter, CountingSpanExporter):
        return
    count_lost = lost_counter(exporter)
    dropped = DropCounter("traces", _destination_of(exporter), tallied=count_lost is None)
    if count_queue_drops(processor, dropped, count_lost):
        batch._exporter = CountingSpanExporter(exporter, dropped)
        dropped.prepare()


def _destination_of(exporter: Any) -> str:
    """The ``OTEL_*_EXPORTER`` name of an exporter another configurator built."""
    if lost_counter(exporter) is not None:
        return "agentmetrics"
    module = type(exporter).__module__
    if "otlp" in module:
        return "otlp"
    return type(exporter).__name__.lower().removesuffix("spanexporter").removesuffix("metricexporter") or "other"


def lost_counter(exporter: SpanExporter) -> Any:
    """The exporter's own count of what never reached it, if it keeps one (the local store does: its
    ``dropped_spans`` is what ``agentmetrics report``, the dashboard and ``/health`` show)."""
    return getattr(exporter, "count_lost", None)


class CountingSpanExporter(_Destination, SpanExporter):
    """Wraps a span exporter: spans whose export fails are counted as dropped. A network destination that
    refuses connections gets no export at all (see :class:`Reachability`), and is given up at shutdown."""

    def __init__(self, exporter: SpanExporter, dropped: DropCounter, on_export: Any = None) -> None:
        self.exporter = exporter
        self.dropped = dropped
        self._on_export = on_export
        self._watch()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._on_export is not None:
            self._on_export(len(spans))
        if self._refused():
            self.dropped.add(len(spans), EXPORT_FAILED, refused=self.reachability.endpoint)
            return SpanExportResult.FAILURE
        try:
            result = self.exporter.export(spans)
        except Exception:
            logger.debug("span exporter %r raised", self.exporter, exc_info=True)
            result = SpanExportResult.FAILURE
            count_lost = lost_counter(self.exporter)
            if count_lost is not None:
                count_lost(len(spans))  # it raised before counting them itself (a FAILURE result is counted there)
        self.reachability.ok = result is SpanExportResult.SUCCESS
        if result is not SpanExportResult.SUCCESS:
            self._lost(len(spans))
        return result

    def shutdown(self) -> None:
        self._shut_down_exporter()

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
        counting = CountingSpanExporter(exporter, self.dropped)
        try:
            super().__init__(counting, max_queue_size=self.capacity)
        except ValueError as error:  # the SDK's own check of the OTEL_BSP_* variables
            raise ConfigError(
                f"OTEL_BSP_* settings cannot work: {error} Set OTEL_BSP_MAX_QUEUE_SIZE, "
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_EXPORT_TIMEOUT to positive whole "
                "numbers, the batch no larger than the queue"
            ) from None
        count_queue_drops(self, self.dropped, self._count_lost)
        self.flush_in_child = destination == "agentmetrics"
        """Whether a multiprocessing child writes each span as it ends (the local store: a fast local write)."""

    @property
    def _waiting(self) -> int:
        """Spans waiting in the queue."""
        return len(self._batch_processor._queue)

    def on_end(self, span: ReadableSpan) -> None:
        super().on_end(span)
        if _fork.state.exit_unseen and self.flush_in_child:
            # A multiprocessing child ends through os._exit, or is killed by Pool.terminate(): write it now.
            self.force_flush()


class _CountingQueue(collections.deque[Any]):
    """The SDK batch processor's queue, counting exactly the spans it pushes out when full.

    The SDK adds at the left of a bounded deque (which then drops the oldest, at the right) and its worker pops
    at the right; both go through one lock here, so "full when added" is exact (a check of the length before
    adding, as the SDK's own warning does, races with the worker and miscounts by a few)."""

    def __init__(self, items: Iterable[Any], maxlen: int, on_drop: Any) -> None:
        super().__init__(items, maxlen)
        self._lock = threading.Lock()
        self._on_drop = on_drop
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def appendleft(self, item: Any) -> None:
        with self._lock:
            full = len(self) == self.maxlen
            super().appendleft(item)
        if full:
            self._on_drop()

    def pop(self, *args: Any) -> Any:
        with self._lock:
            return super().pop(*args)


def count_queue_drops(processor: Any, dropped: DropCounter, count_lost: Any = None) -> bool:
    """Make an SDK ``BatchSpanProcessor`` (ours or one another configurator built) count the spans its full
    queue drops. Returns False when its internals are not the ones we know (nothing changed then)."""
    batch: Any = getattr(processor, "_batch_processor", None)
    queue = getattr(batch, "_queue", None)
    if isinstance(queue, _CountingQueue):
        return True
    if type(queue) is not collections.deque or queue.maxlen is None:
        return False

    def on_drop() -> None:
        dropped.add(1, QUEUE_FULL)
        if count_lost is not None:
            count_lost(1)

    batch._queue = _CountingQueue(queue, queue.maxlen, on_drop)
    return True


class CountingMetricExporter(_Destination, MetricExporter):
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
        self._watch()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self._refused():
            self.dropped.add(_count_points(metrics_data), EXPORT_FAILED, refused=self.reachability.endpoint)
            return MetricExportResult.FAILURE
        try:
            result = self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            logger.debug("metric exporter %r raised", self.exporter, exc_info=True)
            result = MetricExportResult.FAILURE
        self.reachability.ok = result is MetricExportResult.SUCCESS
        if result is not MetricExportResult.SUCCESS:
            self._lost(_count_points(metrics_data))
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._shut_down_exporter(timeout_millis=timeout_millis, **kwargs)


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
