"""The core's metric fast paths (ended calls recorded in batches, a series in one go) give exactly the points,
and the exemplars, that one plain SDK ``record()`` per value gives."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._metrics import BATCH, CallMetrics, record_series
from otel_agentmetrics.record import CallRecord

VALUES = [0.003, 0.011, 0.5, 0.02, 7.0, 0.0001, 0.08, 0.08, 100.0]
ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}


def _points(reader):
    (rm,) = reader.get_metrics_data().resource_metrics
    (sm,) = rm.scope_metrics
    return {
        m.name: [
            (
                dict(p.attributes),
                p.count,
                pytest.approx(p.sum, rel=1e-12),  # the same values, added in another order
                p.min,
                p.max,
                tuple(p.bucket_counts),
                tuple(p.explicit_bounds),
                sorted((e.value, e.span_id, e.trace_id) for e in p.exemplars),
            )
            for p in m.data.data_points
        ]
        for m in sm.metrics
        if m.name != sc.METRIC_CALLS_IN_FLIGHT  # histograms only
    }


def _spans(count: int, sampled_every: int = 1) -> list:
    """Ended SDK spans, one per value; every ``sampled_every``-th sampled, the others not."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    on, off = TracerProvider(sampler=ALWAYS_ON).get_tracer("t"), TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
    spans = []
    for index in range(count):
        span = (on if index % sampled_every == 0 else off).start_span(f"call {index}")
        span.end()
        spans.append(span)
    return spans


def _run(bulk: bool, delta: bool = False, view: bool = False, spans: list | None = None, bounds: tuple = ()):
    temporality = {}
    if delta:
        from opentelemetry.sdk.metrics import Histogram

        temporality = {Histogram: AggregationTemporality.DELTA}
    reader = InMemoryMetricReader(preferred_temporality=temporality)
    views = [View(instrument_name="h", attribute_keys={"gen_ai.provider.name"})] if view else []
    if bounds:  # a view with its own boundaries: that aggregation buckets the values itself
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation

        views.append(View(instrument_name="h", aggregation=ExplicitBucketHistogramAggregation(boundaries=bounds)))
    provider = MeterProvider(metric_readers=[reader], views=views)
    histogram = provider.get_meter("t").create_histogram(
        "h", unit="s", explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS
    )
    spans = spans if spans is not None else _spans(len(VALUES))
    for _ in range(2):  # the second pass finds the series already there
        if bulk:
            record_series(histogram, ATTRS, VALUES, [span.get_span_context() for span in spans])
        else:
            for value, span in zip(VALUES, spans, strict=True):
                histogram.record(value, ATTRS, trace.set_span_in_context(span))
    return _points(reader)


def test_series_recording_equals_one_record_per_value():
    spans = _spans(len(VALUES))
    assert _run(bulk=True, spans=spans) == _run(bulk=False, spans=spans)
    (point,) = _run(bulk=True, spans=spans)["h"]
    assert point[1] == 2 * len(VALUES)
    assert len(point[-1]) == 6  # one exemplar per bucket hit: the last sampled value in it, as the SDK keeps


def test_series_recording_keeps_the_exemplars_of_sampled_calls_only():
    spans = _spans(len(VALUES), sampled_every=3)
    ours, sdk = _run(bulk=True, spans=spans), _run(bulk=False, spans=spans)
    assert ours == sdk
    sampled = {span.get_span_context().span_id for span in spans[::3]}
    assert {span_id for _, span_id, _ in ours["h"][0][-1]} <= sampled


def test_series_recording_with_delta_temporality_and_views():
    spans = _spans(len(VALUES))
    assert _run(bulk=True, delta=True, spans=spans) == _run(bulk=False, delta=True, spans=spans)
    assert _run(bulk=True, view=True, spans=spans) == _run(bulk=False, view=True, spans=spans)
    assert _run(bulk=True, view=True, spans=spans)["h"][0][0] == {"gen_ai.provider.name": "openai"}


def test_series_recording_with_a_view_of_other_boundaries():
    spans = _spans(len(VALUES), sampled_every=2)
    ours = _run(bulk=True, spans=spans, bounds=(0.05, 1.0))
    assert ours == _run(bulk=False, spans=spans, bounds=(0.05, 1.0))
    assert ours["h"][0][5] == (8, 6, 4)  # the view's three buckets (count 18 over two passes)


def test_series_recording_without_an_sdk_is_harmless():
    from opentelemetry.metrics import NoOpMeterProvider

    histogram = NoOpMeterProvider().get_meter("t").create_histogram("h")
    record_series(histogram, ATTRS, VALUES, [span.get_span_context() for span in _spans(len(VALUES))])


def _ended_call(metrics: CallMetrics, span) -> None:
    record = CallRecord("chat", "openai", request_model="m", response_model="m-1", input_tokens=10, output_tokens=20)
    key = metrics.started(record, None)
    record.duration, record.cost = 0.5, 0.001
    metrics.ended(span, key, record, [])


def test_ended_calls_reach_every_reader_once():
    first, second = InMemoryMetricReader(), InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[first, second]).get_meter("t"))
    spans = _spans(3)
    for span in spans:
        _ended_call(metrics, span)
    for reader in (first, second, first):  # each collection sees each call once, whoever collects first
        points = _points(reader)
        assert [p[1] for p in points[sc.METRIC_OPERATION_DURATION]] == [3]
        assert [(p[0][sc.TOKEN_TYPE], p[1], p[2]) for p in points[sc.METRIC_TOKEN_USAGE]] == [
            ("input", 3, 30),
            ("output", 3, 60),
        ]
        (cost,) = points[sc.METRIC_COST]
        assert (cost[0], cost[1], cost[2]) == (ATTRS, 3, 0.003)


def test_a_full_batch_is_recorded_without_waiting_for_a_collection():
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]).get_meter("t"))
    spans = _spans(1) * (BATCH + 1)
    for span in spans:
        _ended_call(metrics, span)
    assert metrics._waiting_calls == 1  # the batch was recorded by the call that filled it; one call waits
    assert [p[1] for p in _points(reader)[sc.METRIC_OPERATION_DURATION]] == [BATCH + 1]


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
            "server.port": 443,
        }
        list(stream)
        (after,) = otel.metric_points("agentmetrics.calls.active")
        assert after.value == 0
    finally:
        instrumentor.uninstrument()


def test_waiting_points_hold_no_span():
    """What waits for the next batch is numbers and span contexts: an ended call's span is freed as soon as the
    exporter lets go of it, not kept (and promoted by the garbage collector) until the next collection."""
    import gc
    import weakref

    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]).get_meter("t"))
    span = _spans(1)[0]
    context = span.get_span_context()
    _ended_call(metrics, span)
    collected = weakref.ref(span)
    gc.disable()  # freed by reference counting alone, not by a cycle collection
    try:
        del span
        assert collected() is None
    finally:
        gc.enable()
    (point,) = _points(reader)[sc.METRIC_OPERATION_DURATION]
    assert point[-1] == [(0.5, context.span_id, context.trace_id)]  # the exemplar still links to the call's span


STREAMS = [
    [0.0, 0.005, 0.03, 0.031, 0.2, 0.2005, 0.9],
    [1.0, 1.5, 1.52, 1.53],
    [2.0, 2.004, 2.008, 2.3, 9.0, 9.001],
    [3.0, 3.01],
    [0.0, 0.02, 0.04, 0.08],  # gaps exactly on boundaries: (0.01, 0.02] and (0.02, 0.04]
]


def test_chunk_gaps_are_recorded_as_one_record_per_gap():
    """Streams' gaps are summed up per call (bucket counts, sum, min, max, each bucket's last gap): recorded in
    batches, they must give the points and exemplars of one plain ``record()`` per gap, in the SDK's order."""
    spans = _spans(len(STREAMS) * 3, sampled_every=2)
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]).get_meter("t"))
    expected_reader = InMemoryMetricReader()
    histogram = (
        MeterProvider(metric_readers=[expected_reader])
        .get_meter("t")
        .create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s", explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS
        )
    )
    attributes = None
    for batch in range(3):  # the first batch creates the series; the next ones take the summaries' fast path
        for index, times in enumerate(STREAMS):
            span = spans[batch * len(STREAMS) + index]
            record = CallRecord("chat", "openai", request_model="m", response_model="m")
            key = metrics.started(record, None)
            record.duration = 1.0
            metrics.ended(span, key, record, times)
            if attributes is None:
                metrics.record_ended()
                ((attributes, _),) = [(dict(p.attributes), p) for p in _metric(reader, sc.METRIC_TIME_PER_OUTPUT_CHUNK)]
            for earlier, later in zip(times, times[1:], strict=False):
                histogram.record(later - earlier, attributes, trace.set_span_in_context(span))
        metrics.record_ended()
    ours = _points(reader)[sc.METRIC_TIME_PER_OUTPUT_CHUNK]
    assert ours == _points(expected_reader)[sc.METRIC_TIME_PER_OUTPUT_CHUNK]
    (point,) = ours
    assert point[1] == 3 * sum(len(times) - 1 for times in STREAMS)
    assert point[-1]  # the last interval's exemplars, from sampled calls only (compared above)


def _metric(reader, name):
    (rm,) = reader.get_metrics_data().resource_metrics
    (sm,) = rm.scope_metrics
    return [p for m in sm.metrics if m.name == name for p in m.data.data_points]


_ENDING_ATTRIBUTES = [
    {"gen_ai.response.id": "chatcmpl-1", "gen_ai.usage.input_tokens": 12, "gen_ai.usage.cost": 1.5e-06},
    {"gen_ai.response.finish_reasons": ["stop", "length"], "flag": True, "gen_ai.request.model": "again"},
    {"gen_ai.response.finish_reasons": []},
    {"mixed": ["a", 1]},  # not a list of strings: the SDK's own path
    {"nested": [["a"]], "n": 1},
    {"none": None, "n": 2},
    {"bytes": b"x"},
    {"": "empty key"},
    {"long": "x" * 300, "n": 3},
]


def _sdk_span(limits=None, attributes=None):
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(span_limits=limits) if limits is not None else TracerProvider()
    return provider.get_tracer("t").start_span("call", attributes=attributes)


def _stored(span):
    return list(span.attributes.items()), span._attributes.dropped


@pytest.mark.parametrize("attrs", _ENDING_ATTRIBUTES)
@pytest.mark.parametrize(
    "limits",
    [None, {"max_span_attributes": 3}, {"max_span_attributes": 0}, {"max_span_attribute_length": 5}],
    ids=["default", "few", "none", "short"],
)
def test_ending_attributes_are_stored_as_the_sdk_stores_them(attrs, limits):
    """The attributes a call ends with, written straight into the SDK span when nothing needs cleaning, are the
    ones ``set_attributes`` stores: same values (lists as tuples), order, drops and limits."""
    from opentelemetry.sdk.trace import SpanLimits

    from otel_agentmetrics._telemetry import set_clean_attributes

    def span():
        return _sdk_span(
            SpanLimits(**limits) if limits else None, {"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"}
        )

    ours, sdk = span(), span()
    if limits is None and attrs in _ENDING_ATTRIBUTES[:3]:  # the values that need no cleaning: written directly

        def refuse(attributes):
            raise AssertionError("set_attributes called for clean values")

        ours.set_attributes = refuse
    set_clean_attributes(ours, {key: list(v) if type(v) is list else v for key, v in attrs.items()})
    sdk.set_attributes(attrs)
    assert _stored(ours) == _stored(sdk)
    ours.end()
    sdk.end()
    assert _stored(ours) == _stored(sdk)


def test_ending_attributes_on_an_ended_or_foreign_span():
    from otel_agentmetrics._telemetry import set_clean_attributes

    ended = _sdk_span()
    ended.end()
    set_clean_attributes(ended, {"late": 1})
    assert "late" not in ended.attributes

    class Recorded(trace.NonRecordingSpan):
        def __init__(self):
            super().__init__(trace.INVALID_SPAN_CONTEXT)
            self.seen = {}

        def set_attributes(self, attributes):
            self.seen.update(attributes)

    foreign = Recorded()
    set_clean_attributes(foreign, {"a": ["x"]})
    assert foreign.seen == {"a": ["x"]}


_USAGES = [
    {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
    },
    {"prompt_tokens": 5, "completion_tokens": 1, "cost": 0.25, "prompt_tokens_details": None},  # OpenRouter
    {"prompt_tokens": "abc", "completion_tokens": -1, "completion_tokens_details": {"reasoning_tokens": 2.0}},
]


@pytest.mark.parametrize("usage", _USAGES)
@pytest.mark.parametrize("extra", [{}, {"provider": "gateway"}], ids=["plain", "undeclared-field"])
def test_chat_responses_read_from_state_as_field_by_field(usage, extra, monkeypatch):
    """The client's response models are read from their state in one read (their attributes go through
    pydantic's hook); the record is the one reading each field by attribute gives."""
    from openai._models import construct_type
    from openai.types.chat import ChatCompletion

    from otel_agentmetrics.instrumentors.llm.openai import _response
    from otel_agentmetrics.instrumentors.llm.openai._request import OpenAIRecord

    body = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "service_tier": "default",
        "system_fingerprint": "fp_1",
        "choices": [
            {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [{"id": "c1"}]}}
        ],
        "usage": usage,
        **extra,
    }
    result = construct_type(type_=ChatCompletion, value=body)
    fast, slow = OpenAIRecord("chat", "openai"), OpenAIRecord("chat", "openai")
    _response.read_chat(fast, result, True)
    state = _response._state
    monkeypatch.setattr(_response, "_state", lambda obj: obj if type(obj) is dict else None)  # field by field
    _response.read_chat(slow, result, True)
    monkeypatch.setattr(_response, "_state", state)
    fields = [name for cls in type(fast).__mro__ for name in getattr(cls, "__slots__", ()) if hasattr(fast, name)]
    assert {name: getattr(fast, name) for name in fields} == {name: getattr(slow, name) for name in fields}
    assert fast.input_tokens == usage["prompt_tokens"]
    if not extra:  # the path these tests are for was taken
        assert _response._state(result) is vars(result)
