"""Exporters by name, the way ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` name them.

Names resolve through the standard ``opentelemetry_traces_exporter`` / ``opentelemetry_metrics_exporter`` entry
points, so any installed exporter works; ``otlp`` follows ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_PROTOCOL``
(``http/protobuf`` by default, as the specification says).
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import entry_points
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from ._config import ConfigError, Settings
from .exporters.delivery import CountingBatchSpanProcessor, CountingMetricExporter

logger = logging.getLogger("otel_agentmetrics")


def _otlp_protocol(signal: str) -> str:
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in ("grpc", "http/protobuf"):
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; use http/protobuf or grpc")
    return protocol


def _load(group: str, name: str, setting: str) -> Any:
    if name == "otlp":
        name = "otlp_proto_grpc" if _otlp_protocol(setting) == "grpc" else "otlp_proto_http"
    for entry_point in entry_points(group=group, name=name):
        return entry_point.load()
    known = sorted({ep.name for ep in entry_points(group=group)} | {"otlp", "none"})
    env = "OTEL_TRACES_EXPORTER" if setting == "TRACES" else "OTEL_METRICS_EXPORTER"
    raise ConfigError(f"{env}: unknown exporter {name!r}; use one of {', '.join(known)}")


def span_processors(settings: Settings) -> list[SpanProcessor]:
    """One batch processor per trace exporter: export happens off the app's threads, through a bounded queue
    whose drops are counted. ``console`` prints each span as it ends (development)."""
    processors: list[SpanProcessor] = []
    for name in settings.traces_exporters:
        if name == "agentmetrics":
            from .summary.exporter import ActiveCallsProcessor, LocalStoreSpanExporter

            store = LocalStoreSpanExporter(
                path=settings.store_path, retention=settings.store_retention, process_metrics=settings.process_metrics
            )
            processors.append(ActiveCallsProcessor(store))  # calls in flight, for the summary's heartbeat
            exporter: SpanExporter = store
        else:
            exporter = _load("opentelemetry_traces_exporter", name, "TRACES")()
        if name == "console":
            processors.append(SimpleSpanProcessor(exporter))
        else:
            processors.append(CountingBatchSpanProcessor(exporter, destination=name))
    return processors


def metric_readers(settings: Settings) -> list[MetricReader]:
    """Prometheus is pulled (our endpoint); every other exporter is pushed every ``OTEL_METRIC_EXPORT_INTERVAL``
    ms from the reader's own thread, its failed exports counted."""
    readers: list[MetricReader] = []
    for name in settings.metrics_exporters:
        if name == "prometheus":
            from .exporters.prometheus import start_prometheus_reader

            readers.append(start_prometheus_reader(settings.prometheus_host, settings.prometheus_port))
            continue
        exporter = _load("opentelemetry_metrics_exporter", name, "METRICS")()
        if isinstance(exporter, MetricReader):
            readers.append(exporter)
        else:
            readers.append(PeriodicExportingMetricReader(CountingMetricExporter(exporter, destination=name)))
    return readers


def close_readers(readers: list[MetricReader]) -> None:
    """Stop readers that will never join a provider (their servers and threads)."""
    for reader in readers:
        try:
            reader.shutdown()
        except Exception:
            logger.debug("closing %r failed", reader, exc_info=True)
