"""Model-call metrics: the instruments, the calls in flight, and the queue that records ended calls in batches.

Why a queue: an SDK histogram measurement costs several microseconds (attribute copy and hashing, exemplar
filter, a lock per aggregation) and a model call makes four or five of them plus one per streamed chunk. On the
call path that was half of our overhead. Ending a call now appends one tuple; its points are recorded later,
through the public ``record()`` with the call's span as context (so exemplars still point at traces):

- when a reader collects: the SDK runs every observable callback at the start of a collection, before it reads
  its storage, and our calls-in-flight counter's callback empties the queue first. Every reader (Prometheus
  scrape, periodic OTLP export, ``force_flush``, shutdown, an in-memory reader in tests) therefore sees every
  call that ended before it collected, exactly the points it saw when they were recorded at once;
- when :data:`BATCH` calls are waiting (no reader collecting often, or none at all), by the call that fills it.

Recording in batches is also cheaper in total: the same code and series run back to back while they are warm.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span

from . import semconv as sc
from ._guard import internal_error
from .record import CallRecord

BATCH = 256
"""Ended calls kept before the call that ends the next one records them all: bounds memory, and the cost of a
batch (a few milliseconds) falls on one call in this many."""

_Ended = tuple[Span, tuple[Any, ...], dict[str, Any], Any, Any, float, Any, Any, Any, list[float], Any]


def _histogram(
    meter: metrics.Meter, name: str, unit: str, description: str, buckets: Sequence[float] = sc.DURATION_BUCKETS
) -> metrics.Histogram:
    return meter.create_histogram(name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets)


class CallMetrics:
    """The model-call instruments of one meter, and the queue of ended calls waiting to be recorded."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.duration = _histogram(meter, sc.METRIC_OPERATION_DURATION, "s", "GenAI operation duration.")
        self.token_usage = _histogram(
            meter, sc.METRIC_TOKEN_USAGE, "{token}", "Number of input and output tokens used.", sc.TOKEN_BUCKETS
        )
        self.time_to_first_chunk = _histogram(
            meter,
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            "s",
            "Time from the request to the first chunk of a streamed response.",
        )
        self.time_per_output_chunk = _histogram(
            meter,
            sc.METRIC_TIME_PER_OUTPUT_CHUNK,
            "s",
            "Time between consecutive chunks of a streamed response, after the first.",
        )
        self.cost = _histogram(meter, sc.METRIC_COST, "USD", "Cost of GenAI operations in US dollars.", sc.COST_BUCKETS)
        self.unpriced_calls = meter.create_counter(
            sc.METRIC_UNPRICED_CALLS,
            unit="{call}",
            description="Model calls that reported usage but whose model has no known price.",
        )
        self._in_flight: dict[tuple[Any, ...], list[Any]] = {}
        self._in_flight_lock = threading.Lock()
        self._ended: deque[_Ended] = deque()
        meter.create_observable_up_down_counter(
            sc.METRIC_CALLS_IN_FLIGHT, callbacks=[self._observe], unit="{call}", description="Model calls in flight."
        )

    def started(self, attributes: dict[str, Any]) -> tuple[Any, ...]:
        """Count a call in flight: a dict update, read by the SDK when it collects (not an SDK measurement).
        Returns the call's series key, to hand back to :meth:`ended`."""
        key = tuple(attributes.items())
        with self._in_flight_lock:
            entry = self._in_flight.get(key)
            if entry is None:
                entry = self._in_flight[key] = [0, dict(attributes)]
            entry[0] += 1
        return key

    def ended(
        self, span: Span, key: tuple[Any, ...], base: dict[str, Any], record: CallRecord, chunk_times: list[float]
    ) -> None:
        """A call ended: out of flight now, its points queued for the next batch. ``key`` is what :meth:`started`
        returned (``()`` if it never ran); ``chunk_times`` are the arrival times of a stream's chunks."""
        with self._in_flight_lock:
            entry = self._in_flight.get(key)
            if entry is not None:
                entry[0] -= 1
        ended = self._ended
        ended.append(
            (
                span,
                key,
                base,
                record.response_model,
                record.error_type,
                record.duration or 0.0,
                record.input_tokens,
                record.output_tokens,
                record.time_to_first_chunk,
                chunk_times,
                record.cost,
            )
        )
        if len(ended) >= BATCH:
            self.record_ended()

    def record_ended(self) -> None:
        """Record the points of every call that ended so far. Safe from any thread: each call is taken once."""
        ended = self._ended
        batch = _Batch()
        while True:
            try:
                item = ended.popleft()
            except IndexError:
                break
            try:
                self._add(batch, *item)
            except Exception:
                internal_error("recording a call's metrics")
        batch.record()

    def _add(
        self,
        batch: _Batch,
        span: Span,
        base_key: tuple[Any, ...],
        base: dict[str, Any],
        response_model: str | None,
        error_type: str | None,
        duration: float,
        input_tokens: int | None,
        output_tokens: int | None,
        time_to_first_chunk: float | None,
        chunk_times: list[float],
        cost: float | None,
    ) -> None:
        key = (base_key, response_model, error_type)
        attrs = batch.attributes.get(key)
        if attrs is None:
            attrs = dict(base)
            if response_model is not None:
                attrs[sc.RESPONSE_MODEL] = response_model
            if error_type is not None:
                attrs[sc.ERROR_TYPE] = error_type
            batch.attributes[key] = attrs
        batch.add(self.duration, key, attrs, duration, span)
        if input_tokens is not None:
            batch.add(
                self.token_usage,
                (key, sc.TOKEN_TYPE_INPUT),
                _with_token_type(attrs, sc.TOKEN_TYPE_INPUT),
                input_tokens,
                span,
            )
        if output_tokens is not None:
            batch.add(
                self.token_usage,
                (key, sc.TOKEN_TYPE_OUTPUT),
                _with_token_type(attrs, sc.TOKEN_TYPE_OUTPUT),
                output_tokens,
                span,
            )
        if time_to_first_chunk is not None:
            batch.add(self.time_to_first_chunk, key, attrs, time_to_first_chunk, span)
            if len(chunk_times) > 1:
                gaps = [later - earlier for earlier, later in zip(chunk_times, chunk_times[1:], strict=False)]
                batch.extend(self.time_per_output_chunk, key, attrs, gaps, span)
        if cost is not None:
            batch.add(self.cost, base_key, base, cost, span)

    def _observe(self, options: CallbackOptions) -> list[Observation]:
        try:
            self.record_ended()
        except Exception:
            internal_error("recording ended calls before a collection")
        with self._in_flight_lock:
            return [Observation(count, attributes) for count, attributes in self._in_flight.values()]


def _with_token_type(attrs: dict[str, Any], token_type: str) -> dict[str, Any]:
    return {**attrs, sc.TOKEN_TYPE: token_type}


class _Batch:
    """The points of many ended calls, grouped by instrument and series, each series recorded in one go."""

    __slots__ = ("attributes", "_series")

    def __init__(self) -> None:
        self.attributes: dict[Any, dict[str, Any]] = {}
        self._series: dict[tuple[Any, Any], tuple[Any, dict[str, Any], list[float], list[Span]]] = {}

    def add(self, histogram: Any, key: Any, attributes: dict[str, Any], value: float, span: Span) -> None:
        series = self._series.get((histogram, key))
        if series is None:
            series = self._series[(histogram, key)] = (histogram, attributes, [], [])
        series[2].append(value)
        series[3].append(span)

    def extend(self, histogram: Any, key: Any, attributes: dict[str, Any], values: list[float], span: Span) -> None:
        series = self._series.get((histogram, key))
        if series is None:
            series = self._series[(histogram, key)] = (histogram, attributes, [], [])
        series[2].extend(values)
        series[3].extend([span] * len(values))

    def record(self) -> None:
        for histogram, attributes, values, spans in self._series.values():
            try:
                record_series(histogram, attributes, values, spans)
            except Exception:
                internal_error("recording a batch of metric points")


def record_series(histogram: Any, attributes: dict[str, Any], values: list[float], spans: list[Span]) -> None:
    """Record many values of one series (one histogram, one attribute set), each value from the call whose span
    is at the same index: the same points as one ``record()`` per value, at a fraction of the cost.

    With the SDK behind the API, most values go straight into the series' aggregations, exactly as ``record``
    adds them. The exemplar the SDK would keep per histogram bucket (the last sampled value that fell in it) is
    kept: that value goes through ``record()`` with its call's span as context. Anything unexpected (another
    SDK, a view with another aggregation, a series not created yet) falls back to plain ``record()`` calls.
    """
    try:
        aggregations = _aggregations_of(histogram, attributes)
        if aggregations is None:  # a new series: the first record() creates it
            histogram.record(values[0], attributes, trace.set_span_in_context(spans[0]))
            values, spans = values[1:], spans[1:]
            aggregations = _aggregations_of(histogram, attributes) if values else None
    except Exception:
        aggregations = None
    if aggregations is None:
        for value, span in zip(values, spans, strict=True):
            histogram.record(value, attributes, trace.set_span_in_context(span))
        return
    exemplars = _exemplar_indexes(values, spans, aggregations)
    bulk = [value for index, value in enumerate(values) if index not in exemplars] if exemplars else values
    for lock, aggregation in aggregations if bulk else ():
        if lock is None:
            _aggregate_all(aggregation, bulk)
        else:
            with lock:
                _aggregate_all(aggregation, bulk)
    for index in sorted(exemplars):
        histogram.record(values[index], attributes, trace.set_span_in_context(spans[index]))


def _exemplar_indexes(values: list[float], spans: list[Span], aggregations: list[tuple[Any, Any]]) -> set[int]:
    """Which values the SDK's bucket-aligned exemplar reservoir would end up keeping: per bucket, the last one
    whose call was sampled."""
    boundaries = getattr(aggregations[0][1], "_boundaries", None)
    last: dict[int, int] = {}
    sampled: dict[int, bool] = {}
    for index, span in enumerate(spans):
        flag = sampled.get(id(span))
        if flag is None:
            flag = sampled[id(span)] = span.get_span_context().trace_flags.sampled
        if flag:
            last[bisect_left(boundaries, values[index]) if boundaries is not None else 0] = index
    return set(last.values())


def _aggregate_all(aggregation: Any, values: list[float]) -> None:
    """Add values to one SDK aggregation. The usual explicit-bucket histogram takes them all under one lock,
    exactly as its ``aggregate`` adds them one by one; any other aggregation gets ``aggregate`` per value."""
    if type(aggregation) is not _explicit_bucket_histogram() or not _BUCKET_FIELDS.issubset(vars(aggregation)):
        aggregate = aggregation.aggregate
        for value in values:
            aggregate(_Value(value), False)
        return
    boundaries = aggregation._boundaries
    with aggregation._lock:
        counts = aggregation._value
        if counts is None:
            counts = aggregation._value = aggregation._get_empty_bucket_counts()
        total = aggregation._sum
        for value in values:
            counts[bisect_left(boundaries, value)] += 1
            total += value  # in order, so the float sum is the one one-by-one recording gives
        aggregation._sum = total
        if aggregation._record_min_max:
            aggregation._min = min(aggregation._min, *values)
            aggregation._max = max(aggregation._max, *values)


_BUCKET_FIELDS = frozenset({"_boundaries", "_lock", "_value", "_sum", "_min", "_max", "_record_min_max"})


def _explicit_bucket_histogram() -> Any:
    from opentelemetry.sdk.metrics._internal.aggregation import _ExplicitBucketHistogramAggregation

    return _ExplicitBucketHistogramAggregation


class _Value:
    """What an SDK aggregation reads from a measurement when no exemplar is sampled."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value


def _aggregations_of(histogram: Any, attributes: dict[str, Any]) -> list[tuple[Any, Any]] | None:
    """The SDK aggregations one ``record(value, attributes)`` on this histogram feeds, or None if unsure."""
    from opentelemetry.sdk.metrics._internal import _view_instrument_match as vim_module

    hash_attributes = getattr(vim_module, "_hash_attributes", None)
    if hash_attributes is None:
        return None
    consumer = histogram._measurement_consumer
    found = []
    for storage in consumer._reader_storages.values():
        matches = storage._instrument_view_instrument_matches.get(histogram)
        if matches is None:
            return None
        for match in matches:
            keys = match._view._attribute_keys
            attrs = attributes if keys is None else {k: v for k, v in attributes.items() if k in keys}
            aggregation = match._attributes_aggregation.get(hash_attributes(attrs))
            if aggregation is None:
                return None
            found.append((match._lock if match._reset_on_collect else None, aggregation))
    return found
