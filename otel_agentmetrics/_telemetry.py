"""The one telemetry path: a :class:`CallRecord` in, a GenAI span, metrics and a cost out.

Instrumentors never touch spans or instruments. They call :meth:`Telemetry.start` with a record holding the
request, fill in the response (or hand a stream to :mod:`otel_agentmetrics._stream`), and end the
:class:`Call` with :meth:`Call.end` or :meth:`Call.fail`. Every step here runs inside a guard: a bug in our code
is logged and the user's call proceeds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, StatusCode, TracerProvider

from . import _tool_links
from . import semconv as sc
from ._content import CaptureMode, parse_capture_mode
from ._context import CallRefused, active_scopes
from ._guard import internal_error, logger, rejected_value
from ._labels import MetricLabels
from ._metrics import CallMetrics
from .pricing import Pricer, PriceTableLoading
from .record import CallRecord, checked
from .version import __version__

_SCOPE = "otel_agentmetrics"
InstrumentsT = TypeVar("InstrumentsT")


class Telemetry:
    """Tracer, instruments, content switch and pricer shared by every instrumentor of one setup."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: CaptureMode | str | bool | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
        self.meter = meter
        self.labels = MetricLabels(meter)
        """Allow-listed attribution keys for metrics; ``instrument()`` configures them from the settings."""
        self.capture = (
            capture_content if isinstance(capture_content, CaptureMode) else parse_capture_mode(capture_content)
        )
        self.capture_content = self.capture.enabled
        """Whether instrumentors should fill the content fields of the record at all."""
        self.pricer = pricer if pricer is not None else Pricer()
        self.metrics = CallMetrics(meter)
        self._instruments: dict[Callable[[Telemetry], Any], Any] = {}
        self._warned_unpriced: set[tuple[str, str | None]] = set()
        self._rejected_values: Any = None

    def instruments(self, kind: Callable[[Telemetry], InstrumentsT]) -> InstrumentsT:
        """The instruments of another kind of span (tools, agent runs, operations), created on first use and kept
        with this setup, so a setup that never runs a tool creates no tool metrics."""
        found = self._instruments.get(kind)
        if found is None:
            found = self._instruments.setdefault(kind, kind(self))
        return found

    def rejected(self, record: CallRecord, fields: list[str]) -> None:
        """Count the fields :func:`~otel_agentmetrics.record.checked` dropped from a call's record, and say so
        once per field: a server sent something we could not believe, and only that field is lost."""
        if self._rejected_values is None:
            self._rejected_values = self.meter.create_counter(
                sc.METRIC_REJECTED_VALUES,
                unit="{value}",
                description="Reported values dropped because they could not be believed (e.g. a token count of -1).",
            )
        for name in fields:
            self._rejected_values.add(1, {sc.PROVIDER_NAME: record.provider, sc.RECORD_FIELD: name})
            rejected_value(f"{record.provider} {name}")

    def start(self, record: CallRecord) -> Call:
        """Open the span for a model call. Scopes may refuse the call here (a budget raises)."""
        scopes = active_scopes.get()
        for scope in scopes:
            try:
                scope.before_call(record)
            except CallRefused:
                raise  # a budget's refusal is meant for the user
            except Exception:
                internal_error("a scope's before_call")
        return Call(self, record, scopes)


class Call:
    """One model call in flight: the span, the clock and the stream timings."""

    __slots__ = (
        "telemetry",
        "record",
        "span",
        "_scopes",
        "_start",
        "_chunk_times",
        "_ended",
        "_metric_key",
    )

    def __init__(self, telemetry: Telemetry, record: CallRecord, scopes: tuple[Any, ...]) -> None:
        self.telemetry = telemetry
        self.record = record
        self._scopes = scopes
        self._chunk_times: list[float] = []
        self._ended = False
        self.span: Span = trace.INVALID_SPAN
        self._metric_key: tuple[Any, ...] = ()
        try:
            name = f"{record.operation} {record.request_model}" if record.request_model else record.operation
            self.span = telemetry.tracer.start_span(
                name, kind=SpanKind.CLIENT, attributes=_start_attributes(record, scopes)
            )
            self._metric_key = telemetry.metrics.started(record, telemetry.labels.select(scopes) if scopes else None)
        except Exception:
            internal_error("starting a model-call span")
        self._start = time.perf_counter()

    @property
    def context(self) -> otel_context.Context:
        """A context with this call's span current: attached while the request is sent."""
        return trace.set_span_in_context(self.span)

    def end(self) -> None:
        """End the call successfully. Safe to call more than once: only the first call counts."""
        if self._ended:
            return
        self._ended = True
        self._finish(None)

    def fail(self, error: BaseException | str) -> None:
        """End the call with an error: the exception (its class name) or an error code such as an HTTP status."""
        if self._ended:
            return
        self._ended = True
        self._finish(error)

    @property
    def ended(self) -> bool:
        return self._ended

    def _finish(self, error: BaseException | str | None) -> None:
        record = self.record
        record.duration = time.perf_counter() - self._start
        telemetry = self.telemetry
        try:
            if error is not None:
                record.error_type = error if isinstance(error, str) else _error_type(error)
            rejected = checked(record)
            if rejected:
                telemetry.rejected(record, rejected)
            _price(telemetry, record)
            times = self._chunk_times
            if times:
                record.time_to_first_chunk = times[0] - self._start
            telemetry.metrics.ended(self.span, self._metric_key, record, times)
            _end_span(telemetry, self.span, record, error)
            if record.tool_call_ids:
                _tool_links.remember(record.tool_call_ids, self.span.get_span_context())
        except Exception:
            internal_error("ending a model-call span")
            with suppress(Exception):
                self.span.end()
        for scope in self._scopes:
            try:
                scope.after_call(record)
            except Exception:
                internal_error("a scope's after_call")


def _error_type(error: BaseException) -> str:
    return type(error).__qualname__


# Span attribute <- record field, read with getattr from these tables: faster than building (key, value) pairs.
_REQUEST_FIELDS = (
    (sc.REQUEST_MAX_TOKENS, "max_tokens"),
    (sc.REQUEST_TEMPERATURE, "temperature"),
    (sc.REQUEST_TOP_P, "top_p"),
    (sc.REQUEST_TOP_K, "top_k"),
    (sc.REQUEST_FREQUENCY_PENALTY, "frequency_penalty"),
    (sc.REQUEST_PRESENCE_PENALTY, "presence_penalty"),
    (sc.REQUEST_STOP_SEQUENCES, "stop_sequences"),
    (sc.REQUEST_SEED, "seed"),
    (sc.CONVERSATION_ID, "conversation_id"),
)
_RESPONSE_FIELDS = (
    (sc.RESPONSE_ID, "response_id"),
    (sc.RESPONSE_MODEL, "response_model"),
    (sc.RESPONSE_FINISH_REASONS, "finish_reasons"),
    (sc.USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.USAGE_CACHE_READ_INPUT_TOKENS, "cache_read_input_tokens"),
    (sc.USAGE_CACHE_CREATION_INPUT_TOKENS, "cache_creation_input_tokens"),
    (sc.USAGE_REASONING_OUTPUT_TOKENS, "reasoning_output_tokens"),
    (sc.USAGE_COST, "cost"),
    (sc.OPERATION_COST, "cost"),
    (sc.COST_SOURCE, "cost_source"),
    (sc.RESPONSE_TIME_TO_FIRST_CHUNK, "time_to_first_chunk"),
    (sc.CLIENT_TIME_TO_FIRST_CHUNK, "time_to_first_chunk"),
    (sc.ERROR_TYPE, "error_type"),
)


def _start_attributes(record: CallRecord, scopes: tuple[Any, ...]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.OPERATION_NAME: record.operation,
        sc.PROVIDER_NAME: record.provider,
        sc.SYSTEM: record.provider,
    }
    if record.request_model is not None:
        attrs[sc.REQUEST_MODEL] = record.request_model
    if record.server_address is not None:
        attrs[sc.SERVER_ADDRESS] = record.server_address
    if record.server_port is not None:
        attrs[sc.SERVER_PORT] = record.server_port
    for key, field in _REQUEST_FIELDS:
        value = getattr(record, field)
        if value is not None:
            attrs[key] = value
    if record.choice_count is not None and record.choice_count != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = record.choice_count
    if record.stream:
        attrs[sc.REQUEST_STREAM] = True
    for scope in scopes:
        attrs.update(scope.span_attributes)
    return attrs


def _price(telemetry: Telemetry, record: CallRecord) -> None:
    """Cost is its own failure domain: a pricing bug loses the dollars, never the span or the tokens."""
    if record.provider_cost is not None:
        record.cost, record.cost_source = record.provider_cost, "provider"
        return
    if record.input_tokens is None and record.output_tokens is None:
        return
    try:
        cost = telemetry.pricer.price(record)
    except PriceTableLoading:
        return  # ended before the price table finished loading at start-up: cost unknown, not unpriced
    except Exception:
        internal_error("pricing a call")
        return
    if cost is not None:
        record.cost, record.cost_source = cost.usd, cost.source
        return
    model = record.response_model or record.request_model
    telemetry.metrics.unpriced_calls.add(1, {sc.PROVIDER_NAME: record.provider, sc.REQUEST_MODEL: model or "unknown"})
    key = (record.provider, model)
    if key not in telemetry._warned_unpriced:
        telemetry._warned_unpriced.add(key)
        logger.warning(
            "otel-agentmetrics: no price known for model %r of provider %r; its calls carry no cost. "
            "Add it to a price file (instrument(prices=...) or AGENTMETRICS_PRICES).",
            model,
            record.provider,
        )


def _end_span(telemetry: Telemetry, span: Span, record: CallRecord, error: BaseException | str | None) -> None:
    if span.is_recording():
        attrs: dict[str, Any] = {}
        for key, field in _RESPONSE_FIELDS:
            value = getattr(record, field)
            if value is not None:
                attrs[key] = value
        if record.tool_call_ids:
            attrs[sc.RESPONSE_TOOL_CALL_IDS] = record.tool_call_ids
        if record.attributes:
            attrs.update(record.attributes)
        if telemetry.capture_content:
            capture = telemetry.capture
            content = _content_attributes(record)
            if content and capture.on_span:
                attrs.update(content)
            if content and capture.on_event:
                span.add_event(sc.CONTENT_EVENT, content)
        span.set_attributes(attrs)
        if error is not None:
            description = str(error) if isinstance(error, BaseException) else None
            span.set_status(StatusCode.ERROR, description)
            if isinstance(error, BaseException):
                span.record_exception(error)
    span.end()


def _content_attributes(record: CallRecord) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (
        (sc.INPUT_MESSAGES, record.input_messages),
        (sc.OUTPUT_MESSAGES, record.output_messages),
        (sc.SYSTEM_INSTRUCTIONS, record.system_instructions),
        (sc.TOOL_DEFINITIONS, record.tool_definitions),
    ):
        if value:
            out[key] = json.dumps(value, default=str, ensure_ascii=False)
    return out
