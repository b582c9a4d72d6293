"""Model-call metrics: the instruments, the calls in flight, and the points of ended calls, recorded in batches.

Why batches: an SDK histogram measurement costs several microseconds (attribute copy and hashing, exemplar
filter, a lock per aggregation) and a model call makes four or five of them plus one per streamed chunk. On the
call path that was half of our overhead. Ending a call now appends its values to the lists of the series they
belong to; the points are recorded later, each series in one go, with the exemplars the SDK would have kept
(each linked to its call's span):

- when a reader collects: the SDK runs every observable callback at the start of a collection, before it reads
  its storage, and our calls-in-flight counter's callback records the waiting points first. Every reader
  (Prometheus scrape, periodic OTLP export, ``force_flush``, shutdown, an in-memory reader in tests) therefore
  sees every call that ended before it collected, exactly the points it saw when they were recorded at once;
- when :data:`BATCH` calls are waiting (no reader collecting often, or none at all), by the call that fills it.

What waits is plain numbers and each call's span context (which the exported span holds anyway), not the calls
or their spans: objects kept across many calls are promoted to the garbage collector's oldest generation and
make its full collections come sooner, which cost more than the measurements saved.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from functools import partial
from operator import sub
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext

from . import _conventions, _fork
from . import semconv as sc
from ._guard import internal_error, logger
from ._labels import OTHER
from .record import CallRecord

BATCH = 256
"""Ended calls kept before the call that ends the next one records them all: bounds memory, and the cost of a
batch (a few milliseconds) falls on one call in this many."""

MAX_MODELS = 200
"""Distinct model names (request and response) on metric attributes per collection interval; later ones of the
interval are recorded as ``other`` and counted on ``agentmetrics.attribute.overflow`` (spans keep the names)."""

_SERIES_LIMIT = 10_000
"""Attribute combinations remembered between batches; past it (a flood of made-up model names) they are rebuilt."""


def _histogram(
    meter: metrics.Meter, name: str, unit: str, description: str, buckets: Sequence[float] = sc.DURATION_BUCKETS
) -> metrics.Histogram:
    return meter.create_histogram(name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets)


class _Series:
    """One histogram and one attribute set: the values waiting to be recorded and the span context of the call
    each came from. A ``gaps`` series waits with one :class:`_Gaps` per call instead of plain values."""

    __slots__ = ("histogram", "attributes", "values", "contexts", "gaps")

    def __init__(self, histogram: metrics.Histogram | _Counted, attributes: dict[str, Any], gaps: bool = False) -> None:
        self.histogram = histogram
        self.attributes = attributes
        self.values: list[Any] = []
        self.contexts: list[SpanContext] = []
        self.gaps = gaps


class _Gaps:
    """The gaps between one stream's chunks (``time_per_output_chunk``, one value per chunk after the first),
    summed up once when its call ends: the bucket counts in the histogram's advised boundaries, sum, min, max, and
    the last gap of each bucket (the one the SDK would keep as that bucket's exemplar). Recording a batch then
    adds a few numbers per call instead of bucketing every gap again (:func:`record_gaps`); ``values`` stay for an
    aggregation with other boundaries."""

    __slots__ = ("values", "counts", "total", "low", "high", "last")

    def __init__(self, times: list[float]) -> None:
        values = self.values = list(map(sub, times[1:], times))
        ordered = sorted(values)
        count = len(ordered)
        self.low, self.high = ordered[0], ordered[-1]
        self.total = sum(values)
        # Bucket i holds the values in (bounds[i-1], bounds[i]], as the SDK's bisect_left puts them.
        counts: dict[int, int] = {}
        below = 0
        for bucket, bound in enumerate(_GAP_BOUNDS):
            upto = bisect_right(ordered, bound, below)
            if upto > below:
                counts[bucket] = upto - below
                below = upto
            if below == count:
                break
        else:
            counts[len(_GAP_BOUNDS)] = count - below
        self.counts = counts
        last: dict[int, float] = {}
        for value in reversed(values):  # from the end: usually the last few gaps cover every bucket there is
            bucket = bisect_left(_GAP_BOUNDS, value)
            if bucket not in last:
                last[bucket] = value
                if len(last) == len(counts):
                    break
        self.last = last


_GAP_BOUNDS = sc.DURATION_BUCKETS
"""The boundaries ``time_per_output_chunk`` advises (an aggregation with others gets the values themselves)."""


class _CallSeries:
    """The series that the calls of one kind (same base attributes, response model and error) feed."""

    __slots__ = (
        "duration",
        "input_tokens",
        "output_tokens",
        "time_to_first_chunk",
        "time_per_output_chunk",
        "cost",
        "usage",
    )

    def __init__(self, metrics_: CallMetrics, base: dict[str, Any], response_model: Any, error_type: Any) -> None:
        attrs = dict(base)
        if response_model is not None:
            attrs[sc.RESPONSE_MODEL] = response_model
        if error_type is not None:
            attrs[sc.ERROR_TYPE] = error_type
        self.duration = _Series(metrics_.duration, attrs)
        if metrics_.token_usage is not None:  # the v1.41.1 histogram, by token type
            self.input_tokens = _Series(metrics_.token_usage, {**attrs, sc.TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
            self.output_tokens = _Series(metrics_.token_usage, {**attrs, sc.TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT})
        else:  # the latest conventions only: one histogram per direction
            latest = metrics_.latest
            assert latest is not None
            self.input_tokens = _Series(latest.operation_input, attrs)
            self.output_tokens = _Series(latest.operation_output, attrs)
        self.time_to_first_chunk = _Series(metrics_.time_to_first_chunk, attrs)
        self.time_per_output_chunk = _Series(metrics_.time_per_output_chunk, attrs, gaps=True)
        self.cost = _Series(metrics_.cost, dict(base))  # cost is attributed by request, as the contract asks
        self.usage: tuple[tuple[str, _Series], ...] | None = (
            metrics_.latest.series(attrs, both=metrics_.token_usage is not None) if metrics_.latest else None
        )


class _Counted:
    """A counter where a series takes a histogram: ``record_series`` adds a batch's values to it at once."""

    __slots__ = ("counter",)

    def __init__(self, counter: metrics.Counter) -> None:
        self.counter = counter

    def record(self, value: float, attributes: dict[str, Any], context: Any = None) -> None:
        self.counter.add(value, attributes, context)


class _LatestTokenMetrics:
    """The latest conventions' token instruments (gen-ai-token-metrics): usage counters by modality, and one
    histogram per direction, replacing ``gen_ai.client.token.usage``."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.operation_input = _histogram(
            meter,
            sc.METRIC_INFERENCE_OPERATION_INPUT_TOKENS,
            "{token}",
            "The number of input (prompt) tokens used per inference operation.",
            sc.TOKEN_BUCKETS,
        )
        self.operation_output = _histogram(
            meter,
            sc.METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS,
            "{token}",
            "The number of output (completion) tokens used per inference operation.",
            sc.TOKEN_BUCKETS,
        )

        def counter(name: str, description: str) -> _Counted:
            return _Counted(meter.create_counter(name, unit="{token}", description=description))

        self.usage = (
            ("input_tokens", counter(sc.METRIC_INFERENCE_USAGE_INPUT_TOKENS, "Input tokens used, cached included.")),
            ("output_tokens", counter(sc.METRIC_INFERENCE_USAGE_OUTPUT_TOKENS, "Output tokens, reasoning included.")),
            (
                "cache_read_input_tokens",
                counter(sc.METRIC_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS, "Input tokens served from a cache."),
            ),
            (
                "cache_creation_input_tokens",
                counter(sc.METRIC_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS, "Input tokens written to a cache."),
            ),
            (
                "reasoning_output_tokens",
                counter(sc.METRIC_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS, "Output tokens used for reasoning."),
            ),
        )

    def series(self, attrs: dict[str, Any], both: bool) -> tuple[tuple[str, _Series], ...]:
        """(record field, series) pairs one call of these attributes feeds besides the common ones; ``both``: the
        v1.41.1 histogram takes the common token series, so the per-direction histograms are added here."""
        counted = {**attrs, sc.TOKEN_MODALITY: sc.TOKEN_MODALITY_UNKNOWN}
        out = tuple((field, _Series(counter, counted)) for field, counter in self.usage)
        if both:
            out += (
                ("input_tokens", _Series(self.operation_input, attrs)),
                ("output_tokens", _Series(self.operation_output, attrs)),
            )
        return out


class CallMetrics:
    """The model-call instruments of one meter, the calls in flight and the points waiting to be recorded."""

    def __init__(self, meter: metrics.Meter, conventions: _conventions.Conventions = _conventions.LEGACY) -> None:
        self.duration = _histogram(meter, sc.METRIC_OPERATION_DURATION, "s", "GenAI operation duration.")
        self.token_usage = (
            _histogram(
                meter, sc.METRIC_TOKEN_USAGE, "{token}", "Number of input and output tokens used.", sc.TOKEN_BUCKETS
            )
            if conventions.legacy
            else None
        )
        self.latest = _LatestTokenMetrics(meter) if conventions.latest else None
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
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[Any, ...], list[Any]] = {}
        self._series: dict[tuple[Any, ...], _CallSeries] = {}
        self._waiting: list[_Series] = []  # the series with values to record, each once
        self._waiting_calls = 0
        self._retired = False
        self._models: set[str] = set()  # model names admitted on metrics this interval
        self._models_overflowed = 0  # calls recorded as "other" this interval
        self._overflow: Any = None
        self._waiting_unsampled = False  # a waiting value came from a call whose span was not sampled
        _in_flight_observer(meter).members.append(self)
        self._meter = meter
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        """A forked child counts its own calls only: the parent's calls in flight, its waiting values and the
        points it already recorded are not the child's (nor is a lock another thread of the parent held)."""
        self._lock = threading.Lock()
        self._in_flight = {}
        self._series = {}
        self._waiting = []
        self._waiting_calls = 0
        self._models = set()
        self._models_overflowed = 0
        forget_recorded_points(self._meter)

    def started(self, record: CallRecord, labels: dict[str, Any] | None) -> tuple[Any, ...]:
        """Count a call in flight: a dict update, read by the SDK when it collects (not an SDK measurement).
        ``labels`` are the allow-listed attribution attributes of the active scopes. Returns the call's series
        key, to hand back to :meth:`ended`."""
        model = record.request_model
        if model is not None and model not in self._models:
            model = self.model_label(model, True)
        key = (
            record.operation,
            record.provider,
            model,
            record.server_address,
            record.server_port,
            tuple(labels.items()) if labels else (),
            record.processing,
        )
        with self._lock:
            entry = self._in_flight.get(key)
            if entry is None:
                entry = self._in_flight[key] = [0, _base_attributes(record, labels, model)]
            entry[0] += 1
        return key

    def model_label(self, model: Any, count: bool = False) -> Any:
        """The value a model name takes on metrics: itself, or ``other`` past :data:`MAX_MODELS` distinct names
        this collection interval. ``count``: the call's request model, counted once per call when it overflows."""
        if model in self._models:
            return model
        with self._lock:
            if len(self._models) < MAX_MODELS:
                self._models.add(model)
                return model
            if count:
                self._models_overflowed += 1
        return OTHER

    def ended(self, span: Span, key: tuple[Any, ...], record: CallRecord, chunk_times: list[float]) -> None:
        """A call ended: out of flight now, its values added to the waiting points. ``key`` is what
        :meth:`started` returned (``()`` if it never ran); ``chunk_times`` are the arrival times of a stream's
        chunks."""
        context = span.get_span_context()
        sampled = context.trace_flags.sampled
        response_model = record.response_model
        if response_model is not None and response_model not in self._models:
            response_model = self.model_label(response_model)
        series_key = (key, response_model, record.error_type)
        gaps = _Gaps(chunk_times) if len(chunk_times) > 1 else None  # a stream: one gap per chunk after the first
        with self._lock:
            entry = self._in_flight.get(key)
            if entry is not None:
                entry[0] -= 1
            series = self._series.get(series_key)
            if series is None:
                if len(self._series) >= _SERIES_LIMIT:
                    self._series.clear()  # series still waiting keep their values; only the index is rebuilt
                base = entry[1] if entry is not None else _base_attributes(record, None, key[2] if key else None)
                series = self._series[series_key] = _CallSeries(self, base, response_model, record.error_type)
            waiting = self._waiting
            _add(waiting, series.duration, record.duration or 0.0, context)
            if record.input_tokens is not None:
                _add(waiting, series.input_tokens, record.input_tokens, context)
            if record.output_tokens is not None:
                _add(waiting, series.output_tokens, record.output_tokens, context)
            if record.time_to_first_chunk is not None:
                _add(waiting, series.time_to_first_chunk, record.time_to_first_chunk, context)
            if gaps is not None:
                _add(waiting, series.time_per_output_chunk, gaps, context)
            if record.cost is not None:
                _add(waiting, series.cost, record.cost, context)
            if series.usage is not None:
                _usage(waiting, series.usage, record, context)
            if not sampled:
                self._waiting_unsampled = True
            self._waiting_calls += 1
            full = self._waiting_calls >= BATCH or self._retired
        if full:
            self.record_ended()

    def record_ended(self) -> None:
        """Record the points of every call that ended so far. Safe from any thread: each value is taken once."""
        with self._lock:
            taken = [
                (series.histogram, series.attributes, series.values, series.contexts, series.gaps)
                for series in self._waiting
            ]
            for series in self._waiting:
                series.values, series.contexts = [], []
            self._waiting = []
            self._waiting_calls = 0
            all_sampled = not self._waiting_unsampled
            self._waiting_unsampled = False
        for histogram, attributes, values, contexts, gaps in taken:
            try:
                (record_gaps if gaps else record_series)(histogram, attributes, values, contexts, all_sampled)
            except Exception:
                internal_error("recording a batch of metric points")

    def retire(self) -> None:
        """This setup is over (``uninstrument()``, other providers): record what waits, and from now on record
        each call that still ends here (one begun before) at once, since no collection may come for it."""
        self._retired = True
        self.record_ended()

    def _observe(self) -> list[tuple[int, dict[str, Any]]]:
        """At a collection: record what waits, and start a new interval of model names. Past :data:`MAX_MODELS`
        series, those with no call in flight are reported (as 0) and forgotten, so made-up model names leave
        nothing behind (below it they stay, at 0, for dashboards)."""
        try:
            self.record_ended()
        except Exception:
            internal_error("recording ended calls before a collection")
        with self._lock:
            observed = [(count, attributes) for count, attributes in self._in_flight.values()]
            if len(self._in_flight) > MAX_MODELS:  # a flood of names: forget those with no call in flight
                for key in [key for key, entry in self._in_flight.items() if not entry[0]]:
                    del self._in_flight[key]
            overflowed, self._models_overflowed = self._models_overflowed, 0
            self._models = set()
            if len(self._series) > 2 * MAX_MODELS:
                self._series.clear()  # a flood of names: rebuilt from the calls of the next interval
        if overflowed:
            self._report_overflow(overflowed)
        return observed

    def _report_overflow(self, calls: int) -> None:
        try:
            if self._overflow is None:
                self._overflow = self._meter.create_counter(
                    sc.METRIC_ATTRIBUTE_OVERFLOW,
                    unit="{value}",
                    description="Attribution values recorded as 'other' because a key reached its distinct-value "
                    "limit.",
                )
            self._overflow.add(calls, {sc.ATTRIBUTE_KEY: sc.REQUEST_MODEL})
        except Exception:
            internal_error("counting model names over the limit")
        logger.warning(
            "otel-agentmetrics: more than %d distinct model names since the last collection; %d calls were "
            "recorded on metrics with model %r (their spans keep the names)",
            MAX_MODELS,
            calls,
            OTHER,
        )


class _InFlightObserver:
    """The one ``agentmetrics.calls.active`` instrument of a meter and the setups that feed it.

    The SDK hands back the first instrument when one of the same name is created again (``uninstrument()`` then
    ``instrument()`` with the same meter provider), with its first callback only: a second setup's callback would
    never run, and the points of its ended calls would wait for a full batch instead of each collection. So each
    meter gets one instrument whose callback serves every setup's calls, and drops a retired setup once nothing
    of it is in flight."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.members: list[CallMetrics] = []
        meter.create_observable_up_down_counter(
            sc.METRIC_CALLS_IN_FLIGHT, callbacks=[self.observe], unit="{call}", description="Model calls in flight."
        )

    def observe(self, options: CallbackOptions) -> list[Observation]:
        counts: dict[Any, list[Any]] = {}
        for member in list(self.members):
            in_flight = member._observe()
            if member._retired and not any(count for count, _ in in_flight):
                with suppress(ValueError):
                    self.members.remove(member)
            for count, attributes in in_flight:
                try:
                    key: Any = frozenset(attributes.items())
                except TypeError:  # an unhashable attribute value: its own series
                    key = id(attributes)
                found = counts.get(key)
                if found is None:
                    counts[key] = [count, attributes]
                else:
                    found[0] += count
        return [Observation(count, attributes) for count, attributes in counts.values()]


_observers: weakref.WeakKeyDictionary[Any, _InFlightObserver] = weakref.WeakKeyDictionary()
_observers_lock = threading.Lock()


def _in_flight_observer(meter: metrics.Meter) -> _InFlightObserver:
    with _observers_lock:
        try:
            found = _observers.get(meter)
        except TypeError:  # a meter that cannot be weakly referenced: an instrument of its own
            return _InFlightObserver(meter)
        if found is None:
            found = _observers[meter] = _InFlightObserver(meter)
        return found


def forget_recorded_points(meter: Any) -> None:
    """Empty what the SDK aggregated for the instruments of ``meter``'s scope (ours), with fresh locks: in a
    forked child those points are the parent's, and would be reported again under the child's instance id."""
    consumer = getattr(meter, "_measurement_consumer", None)
    scope = getattr(meter, "_instrumentation_scope", None)
    if consumer is None or scope is None:
        return  # not the SDK's meter: nothing aggregated here
    consumer._lock = threading.Lock()
    for storage in consumer._reader_storages.values():
        storage._lock = threading.RLock()
        for instrument, matches in storage._instrument_view_instrument_matches.items():
            if getattr(instrument, "instrumentation_scope", None) == scope:
                for match in matches:
                    match._lock = threading.Lock()
                    match._attributes_aggregation = {}


def _base_attributes(record: CallRecord, labels: dict[str, Any] | None, model: Any) -> dict[str, Any]:
    """The attributes every model-call metric of a call carries (the contract's, plus attribution labels);
    ``model`` is the request model as metrics carry it (:meth:`CallMetrics.model_label`)."""
    attrs: dict[str, Any] = {sc.OPERATION_NAME: record.operation, sc.PROVIDER_NAME: record.provider}
    if model is not None:
        attrs[sc.REQUEST_MODEL] = model
    if record.server_address is not None:
        attrs[sc.SERVER_ADDRESS] = record.server_address
        if record.server_port is not None:  # conditionally required with server.address
            attrs[sc.SERVER_PORT] = record.server_port
    if labels:
        attrs.update(labels)
    if record.processing is not None:  # batch spend shows apart from interactive spend
        attrs[sc.PROCESSING] = record.processing
    return attrs


_ZERO_WHEN_FAILED = ("input_tokens", "output_tokens")


def _usage(
    waiting: list[_Series], usage: tuple[tuple[str, _Series], ...], record: CallRecord, context: SpanContext
) -> None:
    """The latest conventions' token series. A failed call that received no usage counts 0 input and output
    tokens, as they ask (so the counters have a point for every call)."""
    failed = record.error_type is not None
    for field, series in usage:
        value = getattr(record, field)
        if value is None and failed and type(series.histogram) is _Counted and field in _ZERO_WHEN_FAILED:
            value = 0
        if value is not None:
            _add(waiting, series, value, context)


def _add(waiting: list[_Series], series: _Series, value: Any, context: SpanContext) -> None:
    if not series.values:
        waiting.append(series)
    series.values.append(value)
    series.contexts.append(context)


def record_series(
    histogram: Any,
    attributes: dict[str, Any],
    values: list[float],
    contexts: list[SpanContext],
    all_sampled: bool | None = None,
) -> None:
    """Record many values of one series (one histogram, one attribute set), each value from the call whose span
    context is at the same index: the same points as one ``record()`` per value, at a fraction of the cost.

    With the SDK behind the API, most values go straight into the series' aggregations, exactly as ``record``
    adds them. The exemplar the SDK would keep per histogram bucket (the last sampled value that fell in it) is
    kept: that value goes through ``record()`` with its call's span as context. Anything unexpected (another
    SDK, a view with another aggregation, a series not created yet) falls back to plain ``record()`` calls.
    ``all_sampled`` says every context is sampled (known by the caller: then none is read); ``None``: look.

    A batch holds hundreds of values (a streamed call brings one per chunk), so everything per value runs in C
    (``map``, ``Counter``, ``compress``, ``min``/``max``): no Python statement runs once per value.
    """
    if type(histogram) is _Counted:  # a counter (latest token names): one add for the batch, as the sum is the same
        histogram.counter.add(sum(values), attributes)
        return
    try:
        aggregations = _aggregations_of(histogram, attributes)
        if aggregations is None:  # a new series: the first record() creates it
            histogram.record(values[0], attributes, _span_context(contexts[0]))
            values, contexts = values[1:], contexts[1:]
            aggregations = _aggregations_of(histogram, attributes) if values else None
    except Exception:
        aggregations = None
    if aggregations is None:
        for value, context in zip(values, contexts, strict=True):
            histogram.record(value, attributes, _span_context(context))
        return
    if not aggregations:
        return  # a provider with no metric reader: the SDK keeps nothing, and neither do we
    boundaries = getattr(aggregations[0][1], "_boundaries", None)
    buckets = list(map(partial(bisect_left, boundaries), values)) if boundaries is not None else [0] * len(values)
    per_bucket = Counter(buckets)
    exemplars = _exemplar_indexes(buckets, per_bucket, contexts, all_sampled)
    # The values less the exemplars (recorded one by one below), summed up once for every aggregation that
    # shares the boundaries: a few operations per value, all in C.
    counts = per_bucket
    added = sum(values)
    if exemplars:
        counts = per_bucket.copy()
        for index in exemplars:
            counts[buckets[index]] -= 1
            added -= values[index]
    bulk_count = len(values) - len(exemplars)
    low, high = min(values), max(values)  # the exemplars' own record() calls leave min and max as they are
    for lock, aggregation in aggregations if bulk_count else ():
        if boundaries is not None and getattr(aggregation, "_boundaries", None) == boundaries:
            summary = (counts, added, low, high)
        else:  # a view with other boundaries (or none): this aggregation takes the values themselves
            summary = None
        if lock is None:
            _aggregate_all(aggregation, values, exemplars, summary)
        else:
            with lock:
                _aggregate_all(aggregation, values, exemplars, summary)
    for index in sorted(exemplars):
        histogram.record(values[index], attributes, _span_context(contexts[index]))


def record_gaps(
    histogram: Any,
    attributes: dict[str, Any],
    calls: list[_Gaps],
    contexts: list[SpanContext],
    all_sampled: bool | None = None,
) -> None:
    """Record the chunk gaps of many streams (one :class:`_Gaps` per call, its span context at the same index):
    the same points and exemplars as :func:`record_series` over every gap, from each call's summary. The summaries
    are in the advised boundaries; an aggregation with others (a view), or anything unexpected, gets the gaps."""
    if calls and _aggregations_of_or_none(histogram, attributes) is None:  # a new series: the first call creates it
        first = calls[0]
        record_series(histogram, attributes, first.values, [contexts[0]] * len(first.values), all_sampled)
        calls, contexts = calls[1:], contexts[1:]
        if not calls:
            return
    try:
        aggregations = _aggregations_of(histogram, attributes)
        fast = aggregations is not None and all(
            type(aggregation) is _explicit_bucket_histogram()
            and _BUCKET_FIELDS.issubset(vars(aggregation))
            and tuple(aggregation._boundaries) == _GAP_BOUNDS
            for _, aggregation in aggregations
        )
    except Exception:
        aggregations, fast = None, False
    if not fast or aggregations is None:
        values = [value for call in calls for value in call.values]
        flat = [context for call, context in zip(calls, contexts, strict=True) for _ in call.values]
        record_series(histogram, attributes, values, flat, all_sampled)
        return
    if not aggregations:
        return  # a provider with no metric reader
    counts: Counter[int] = Counter()
    exemplars: dict[int, tuple[float, SpanContext]] = {}  # per bucket: the last gap of a sampled call
    for call, context in zip(calls, contexts, strict=True):
        counts.update(call.counts)
        if all_sampled or context.trace_flags.sampled:
            for bucket, value in call.last.items():
                exemplars[bucket] = (value, context)
    total = sum(call.total for call in calls)
    for bucket, (value, _context) in exemplars.items():  # recorded one by one below
        counts[bucket] -= 1
        total -= value
    summary = (counts, total, min(call.low for call in calls), max(call.high for call in calls))
    if sum(counts.values()):
        for lock, aggregation in aggregations:
            if lock is None:
                _add_summary(aggregation, summary)
            else:
                with lock:
                    _add_summary(aggregation, summary)
    for value, context in exemplars.values():
        histogram.record(value, attributes, _span_context(context))


def _aggregations_of_or_none(histogram: Any, attributes: dict[str, Any]) -> list[tuple[Any, Any]] | None:
    try:
        return _aggregations_of(histogram, attributes)
    except Exception:
        return None


def _span_context(context: SpanContext) -> Any:
    """An OTel context whose current span is the call's, for the exemplar of a value recorded after the call."""
    return trace.set_span_in_context(NonRecordingSpan(context))


def _exemplar_indexes(
    buckets: list[int], per_bucket: Counter[int], contexts: list[SpanContext], all_sampled: bool | None
) -> set[int]:
    """Which values the SDK's bucket-aligned exemplar reservoir would end up keeping: per bucket, the last one
    whose call was sampled (``buckets[i]`` is value ``i``'s bucket, ``per_bucket`` their counts)."""
    if all_sampled is None:
        all_sampled = all(context.trace_flags.sampled for context in {id(c): c for c in contexts}.values())
    if all_sampled:  # the last value of each bucket: a search from the end per bucket, in C
        last = len(buckets) - 1
        backwards = buckets[::-1]
        return {last - backwards.index(bucket) for bucket in per_bucket}
    found: dict[int, int] = {}
    for index, context in enumerate(contexts):
        if context.trace_flags.sampled:
            found[buckets[index]] = index
    return set(found.values())


def _aggregate_all(
    aggregation: Any,
    values: list[float],
    exemplars: set[int],
    summary: tuple[Counter[int], float, float, float] | None = None,
) -> None:
    """Add the values but the ``exemplars`` (indexes) to one SDK aggregation. The usual explicit-bucket histogram
    takes them all at once under its lock, exactly as its ``aggregate`` adds them one by one; any other
    aggregation gets ``aggregate`` per value. ``summary``: the values' ``(bucket counts, sum, min, max)`` in this
    aggregation's boundaries, when the caller has them."""
    if type(aggregation) is not _explicit_bucket_histogram() or not _BUCKET_FIELDS.issubset(vars(aggregation)):
        aggregate = aggregation.aggregate
        for index, value in enumerate(values):
            if index not in exemplars:
                aggregate(_Value(value), False)
        return
    if summary is None:
        bulk = [value for index, value in enumerate(values) if index not in exemplars] if exemplars else values
        if not bulk:
            return
        per_bucket = Counter(map(partial(bisect_left, aggregation._boundaries), bulk))
        summary = (per_bucket, sum(bulk), min(bulk), max(bulk))
    _add_summary(aggregation, summary)


def _add_summary(aggregation: Any, summary: tuple[Any, float, float, float]) -> None:
    """Add ``(bucket counts, sum, min, max)`` of some values to an explicit-bucket histogram aggregation, under
    its lock, exactly as its ``aggregate`` adds them one by one."""
    counted, added, low, high = summary
    # Everything is computed before the aggregation changes, so a value that cannot be recorded leaves it as it was.
    items = [(bucket, count) for bucket, count in counted.items() if count]
    with aggregation._lock:
        counts = aggregation._value
        if counts is None:
            counts = aggregation._value = aggregation._get_empty_bucket_counts()
        total = aggregation._sum + added
        record_min_max = aggregation._record_min_max
        if record_min_max:
            low, high = min(aggregation._min, low), max(aggregation._max, high)
        for bucket, count in items:
            counts[bucket] += count
        aggregation._sum = total
        if record_min_max:
            aggregation._min, aggregation._max = low, high


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
