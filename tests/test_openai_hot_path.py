"""The core's fast paths used by streamed OpenAI calls give exactly what the plain SDK calls give."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._telemetry import _record_many

VALUES = [0.003, 0.011, 0.5, 0.02, 7.0, 0.0001, 0.08, 0.08, 100.0]
ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}


def _points(reader):
    (rm,) = reader.get_metrics_data().resource_metrics
    (sm,) = rm.scope_metrics
    return {
        m.name: [
            (dict(p.attributes), p.count, p.sum, p.min, p.max, tuple(p.bucket_counts), tuple(p.explicit_bounds))
            for p in m.data.data_points
        ]
        for m in sm.metrics
    }


def _run(bulk: bool, delta: bool = False, view: bool = False):
    temporality = {}
    if delta:
        from opentelemetry.sdk.metrics import Histogram

        temporality = {Histogram: AggregationTemporality.DELTA}
    reader = InMemoryMetricReader(preferred_temporality=temporality)
    views = [View(instrument_name="h", attribute_keys={"gen_ai.provider.name"})] if view else []
    provider = MeterProvider(metric_readers=[reader], views=views)
    histogram = provider.get_meter("t").create_histogram(
        "h", unit="s", explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS
    )
    for _ in range(2):  # the second pass finds the series already there
        if bulk:
            _record_many(histogram, VALUES, ATTRS)
        else:
            for value in VALUES:
                histogram.record(value, ATTRS)
    return _points(reader)


def test_bulk_recording_equals_one_record_per_value():
    assert _run(bulk=True) == _run(bulk=False)
    assert _run(bulk=True)["h"][0][1] == 2 * len(VALUES)


def test_bulk_recording_with_delta_temporality_and_views():
    assert _run(bulk=True, delta=True) == _run(bulk=False, delta=True)
    assert _run(bulk=True, view=True) == _run(bulk=False, view=True)
    assert _run(bulk=True, view=True)["h"][0][0] == {"gen_ai.provider.name": "openai"}


def test_bulk_recording_without_an_sdk_is_harmless():
    from opentelemetry.metrics import NoOpMeterProvider

    histogram = NoOpMeterProvider().get_meter("t").create_histogram("h")
    _record_many(histogram, VALUES, ATTRS)


def test_calls_in_flight(otel):
    from .openai_kit import client_for, instrument, recorded

    instrumentor = instrument(otel)
    try:
        name = "test_chat_completion_streaming"
        stream = client_for(name).chat.completions.create(**recorded(name)[0])
        (during,) = otel.metric_points("agentmetrics.calls.active")
        assert during.value == 1
        assert during.attributes == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4",
            "server.address": "api.openai.com",
        }
        list(stream)
        (after,) = otel.metric_points("agentmetrics.calls.active")
        assert after.value == 0
    finally:
        instrumentor.uninstrument()
