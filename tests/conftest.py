"""Shared test kit: in-memory span exporter and metric reader behind real SDK providers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# Our fail-open guard re-raises under tests, so a bug of ours fails the test instead of hiding.
os.environ["AGENTMETRICS_RAISE_INTERNAL_ERRORS"] = "1"
# Never write to a real home directory or read a developer's settings from the environment.
for _name in list(os.environ):
    if _name.startswith(("AGENTMETRICS_", "OTEL_")) and _name != "AGENTMETRICS_RAISE_INTERNAL_ERRORS":
        del os.environ[_name]
# No price index in ~/.cache: each test loads genai-prices as a first run does (tests/test_price_index.py sets one).
os.environ["AGENTMETRICS_PRICE_INDEX"] = "0"


class Telemetry:
    """What a test sees: finished spans and metric points."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def only_span(self) -> Any:
        spans = self.finished()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self, name: str) -> list[Any]:
        """All data points of one metric, across scopes."""
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


@pytest.fixture(autouse=True)
def _no_undelivered_from_other_tests() -> Iterator[None]:
    """Each test stands for an app of its own: the process-wide tally of telemetry other destinations never got
    (exporters/delivery.py) starts empty, or a store a test writes would report another test's losses."""
    from otel_agentmetrics.exporters import delivery

    with delivery._undelivered_lock:
        delivery._undelivered.clear()
    yield
