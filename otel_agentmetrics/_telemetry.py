"""The one telemetry path: a :class:`CallRecord` in, a GenAI span, metrics and a cost out.

Instrumentors never touch spans or instruments. They call :meth:`Telemetry.start` with a record holding the
request, fill in the response (or hand a stream to :mod:`otel_agentmetrics._stream`), and end the
:class:`Call` with :meth:`Call.end` or :meth:`Call.fail`. Every step here runs inside a guard: a bug in our code
is logged and the user's call proceeds.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, StatusCode, TracerProvider

from . import _conventions, _evaluated, _logfire, _tool_links
from . import semconv as sc
from ._config import parse_capture_mode
from ._content import CaptureMode
from ._context import CallRefused, active_scopes
from ._guard import internal_error, logger, rejected_value
from ._labels import MetricLabels
from ._metrics import CallMetrics
from .pricing import Pricer, PriceTableLoading
from .record import MAX_MODEL_NAME, CallRecord, checked, short_model
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
        raw_errors: bool = False,
        logger_provider: Any = None,
        conventions: _conventions.Conventions | None = None,
    ) -> None:
        self.conventions = conventions if conventions is not None else _conventions.from_environment()
        """Which GenAI names to emit (``OTEL_SEMCONV_STABILITY_OPT_IN``), decided here once for every call."""
        self.system_attribute = sc.SYSTEM if self.conventions.legacy else None
        self.response_fields = _conventions.response_fields(self.conventions)
        self.logger_provider = logger_provider
        """Where events go (``instrument(logger_provider=...)``); ``None``: the global logger provider."""
        self._event_logger: Any = None
        self.completion_hook: Any = None
        """The content upload hook (``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK``), set by ``instrument()``."""
        self.tracer = _tracer(tracer_provider)
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
        self.raw_errors = raw_errors
        """Record error messages and stacktraces as raised, without the masking of :mod:`._redact`."""
        self.metrics = CallMetrics(meter, self.conventions)
        self.cost_attributes: tuple[tuple[str, Callable[[float], Any]], ...] = ()
        """Viewer-specific names the cost is repeated under (``instrument(cost_attributes=...)``)."""
        self._instruments: dict[Callable[[Telemetry], Any], Any] = {}
        self._warned_unpriced: set[tuple[str, str | None]] = set()
        self._unpriced_log: list[Any] = [-UNPRICED_WARNING_INTERVAL, 0]
        self._rejected_values: Any = None

    def use_providers(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        """Report to other providers from now on (Logfire configured after us, see ``_logfire``): the tracer of
        ``tracer_provider`` and new instruments from ``meter_provider`` (``None``: keep that one). Points of calls
        that already ended are recorded to the old instruments first; calls in flight end on the new ones."""
        if tracer_provider is not None:
            self.tracer = _tracer(tracer_provider)
        if meter_provider is not None:
            old = self.metrics
            meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
            labels = MetricLabels(meter, self.labels.keys, self.labels.max_values)
            self.meter, self.labels, self.metrics = meter, labels, CallMetrics(meter, self.conventions)
            self._instruments = {}
            old.retire()

    def instruments(self, kind: Callable[[Telemetry], InstrumentsT]) -> InstrumentsT:
        """The instruments of another kind of span (tools, agent runs, operations), created on first use and kept
        with this setup, so a setup that never runs a tool creates no tool metrics."""
        found = self._instruments.get(kind)
        if found is None:
            found = self._instruments.setdefault(kind, kind(self))
        return found

    def event_logger(self) -> Any:
        """The OTel logger events are emitted through (evaluations, content details in the latest conventions)."""
        found = self._event_logger
        if found is None:
            from opentelemetry._logs import get_logger

            found = self._event_logger = get_logger(_SCOPE, __version__, logger_provider=self.logger_provider)
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

    def start(self, record: CallRecord, start_time: int | None = None) -> Call:
        """Open the span for a model call. Scopes may refuse the call here (a budget raises).

        ``start_time`` (epoch nanoseconds) is for a call recorded once it is over, from what a framework reported.
        """
        model = record.request_model
        if type(model) is str and len(model) > MAX_MODEL_NAME:
            record.request_model = short_model(model)
        scopes = active_scopes.get()
        for scope in scopes:
            try:
                scope.before_call(record)
            except CallRefused:
                raise  # a budget's refusal is meant for the user
            except Exception:
                internal_error("a scope's before_call")
        return Call(self, record, scopes, start_time)


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
        "request",
        "client",
    )

    def __init__(
        self, telemetry: Telemetry, record: CallRecord, scopes: tuple[Any, ...], start_time: int | None = None
    ) -> None:
        self.telemetry = telemetry
        self.record = record
        self._scopes = scopes
        self._chunk_times: list[float] = []
        self._ended = False
        self.span: Span = trace.INVALID_SPAN
        self._metric_key: tuple[Any, ...] = ()
        self.request: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        """The call's ``(args, kwargs)`` while a stream is open: an error is cleaned of their content."""
        self.client: Any = None
        """The client object the call went through (while a stream is open): its credentials are masked exactly."""
        try:
            name = f"{record.operation} {record.request_model}" if record.request_model else record.operation
            self.span = telemetry.tracer.start_span(
                name,
                kind=SpanKind.CLIENT,
                attributes=_start_attributes(record, scopes, telemetry.system_attribute),
                start_time=start_time,
            )
            self._metric_key = telemetry.metrics.started(record, telemetry.labels.select(scopes) if scopes else None)
        except Exception:
            internal_error("starting a model-call span")
        self._start = time.perf_counter()
        if start_time is not None:  # a call recorded after the fact: its duration runs from its real start
            self._start -= (time.time_ns() - start_time) / 1e9

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

    def fail(
        self,
        error: BaseException | str,
        request: tuple[tuple[Any, ...], dict[str, Any]] | None = None,
        client: Any = None,
    ) -> None:
        """End the call with an error: the exception (its class name) or an error code such as an HTTP status.
        ``request`` is the call's ``(args, kwargs)``: content the error message quotes is removed from it;
        ``client`` the object it went through: the credentials it holds are masked wherever an error quotes them."""
        if self._ended:
            return
        self._ended = True
        if request is not None:
            self.request = request
        if client is not None:
            self.client = client
        if isinstance(error, BaseException) and not self.telemetry.raw_errors:
            _remember_credentials(self.client, self.request)
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
            _end_span(telemetry, self.span, record, error, self.request)
            if record.tool_call_ids:
                _tool_links.remember(record.tool_call_ids, self.span.get_span_context())
            if record.response_id is not None:  # an evaluation may name it later (record_evaluation)
                _evaluated.remember(record, self.span.get_span_context(), self._scopes)
        except Exception:
            internal_error("ending a model-call span")
            with suppress(Exception):
                self.span.end()
        for scope in self._scopes:
            try:
                scope.after_call(record)
            except Exception:
                internal_error("a scope's after_call")


def _tracer(provider: TracerProvider | None) -> Any:
    tracer = trace.get_tracer(_SCOPE, __version__, provider)
    if provider is None:
        provider = trace.get_tracer_provider()
    if _logfire.is_logfire(provider):
        return _logfire.LogfireTracer(tracer)
    return tracer


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
_RESPONSE_FIELDS = _conventions.response_fields(_conventions.LEGACY)  # the default; see Telemetry.response_fields


def _start_attributes(record: CallRecord, scopes: tuple[Any, ...], system: str | None = sc.SYSTEM) -> dict[str, Any]:
    attrs: dict[str, Any] = {sc.OPERATION_NAME: record.operation, sc.PROVIDER_NAME: record.provider}
    if system is not None:  # the v1.41.1 conventions only (see _conventions)
        attrs[system] = record.provider
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
    if record.processing is not None:
        attrs[sc.PROCESSING] = record.processing
    for scope in scopes:
        attrs.update(scope.span_attributes)
    return attrs


def _price(telemetry: Telemetry, record: CallRecord) -> None:
    """Cost is its own failure domain: a pricing bug loses the dollars, never the span or the tokens."""
    if record.provider_cost is not None:
        record.cost, record.cost_source = record.provider_cost, "provider"
        return
    if record.input_tokens is None and record.output_tokens is None and not record.usage_details:
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
    label = telemetry.metrics.model_label(model) if model is not None else "unknown"
    telemetry.metrics.unpriced_calls.add(1, {sc.PROVIDER_NAME: record.provider, sc.REQUEST_MODEL: label})
    _warn_unpriced(telemetry, record.provider, model)


UNPRICED_WARNING_INTERVAL = 60.0
"""Seconds between two "no price known" warnings: the first unpriced model warns at once, the others of the same
minute are counted into the next warning (a gateway passing user-chosen names would otherwise log one per name)."""
_MAX_WARNED = 1000


def _warn_unpriced(telemetry: Telemetry, provider: str, model: str | None) -> None:
    key = (provider, model)
    warned = telemetry._warned_unpriced
    if key in warned:
        return
    if len(warned) >= _MAX_WARNED:
        warned.clear()
    warned.add(key)
    now = time.monotonic()
    state = telemetry._unpriced_log  # [when the last warning went out, models not named since]
    if now - state[0] < UNPRICED_WARNING_INTERVAL:
        state[1] += 1
        return
    others, state[0], state[1] = state[1], now, 0
    logger.warning(
        "otel-agentmetrics: no price known for model %r of provider %r; its calls carry no cost%s. "
        "Add it to a price file (instrument(prices=...) or AGENTMETRICS_PRICES).",
        model,
        provider,
        f" (nor for {others} other model{'s' if others != 1 else ''} since the last such warning)" if others else "",
    )


def _end_span(
    telemetry: Telemetry,
    span: Span,
    record: CallRecord,
    error: BaseException | str | None,
    request: tuple[tuple[Any, ...], dict[str, Any]] | None,
) -> None:
    if span.is_recording():
        attrs: dict[str, Any] = {}
        for key, field in telemetry.response_fields:
            value = getattr(record, field)
            if value is not None:
                attrs[key] = value
        if record.tool_call_ids:
            attrs[sc.RESPONSE_TOOL_CALL_IDS] = record.tool_call_ids
        if record.usage_details:
            for name, count in record.usage_details.items():
                attrs[sc.USAGE_DETAIL_PREFIX + name] = count
        if telemetry.cost_attributes and record.cost is not None:
            for key, render in telemetry.cost_attributes:
                attrs[key] = render(record.cost)
        if record.attributes:
            attrs.update(record.attributes)
        if telemetry.capture_content:
            capture = telemetry.capture
            content = _content_attributes(record) if capture.enabled else None
            if content and capture.on_span:
                attrs.update(content)
            if content and capture.on_event:
                if telemetry.conventions.legacy:
                    span.add_event(sc.CONTENT_EVENT, content)
                if telemetry.conventions.latest:  # an event of its own, in the call's trace
                    _content_event(telemetry, span, record, attrs, content)
            if telemetry.completion_hook is not None:
                from . import _upload

                _upload.hand_over(telemetry, span, record)
        set_clean_attributes(span, attrs)
        if isinstance(error, BaseException):
            record_error(telemetry, span, error, None if telemetry.capture.enabled else request)
        elif error is not None:
            span.set_status(StatusCode.ERROR)
    span.end()


_PLAIN_VALUES = frozenset((str, int, float, bool))
_STRINGS = frozenset((str,))
_direct_spans: dict[type, bool] = {}
"""Span type -> whether :func:`set_clean_attributes` may write into its attributes (the SDK's own span)."""


def set_clean_attributes(span: Span, attrs: dict[str, Any]) -> None:
    """``span.set_attributes(attrs)``, for the attributes a model call ends with. On the SDK's span, when every
    value is one the SDK would store unchanged (a string, number or boolean; a list of strings, stored as the
    tuple the SDK makes of it) and no limit applies (no value length limit, room for all), they go straight into
    the span's attribute dict, under the span's locks: the same attributes, without the SDK cleaning each value
    again (a quarter of our instructions per call). Anything else takes ``set_attributes``. ``attrs`` is ours: its
    lists are replaced by tuples."""
    cls = type(span)
    direct = _direct_spans.get(cls)
    if direct is None:
        direct = _direct_spans[cls] = _is_sdk_span(span)
    if direct:
        bounded = span._attributes  # type: ignore[attr-defined]
        maxlen = bounded.maxlen
        if bounded.max_value_len is None and (maxlen is None or len(bounded._dict) + len(attrs) <= maxlen):
            for key, value in attrs.items():
                if type(value) not in _PLAIN_VALUES:
                    if type(value) is not list or not _STRINGS.issuperset(map(type, value)):
                        break
                    attrs[key] = tuple(value)
                if type(key) is not str or not key:
                    break
            else:
                with span._lock:  # type: ignore[attr-defined]
                    if span._end_time is None and not bounded._immutable:  # type: ignore[attr-defined]
                        with bounded._lock:
                            stored = bounded._dict
                            for key in attrs.keys() & stored.keys():  # set again: moved to the end, as the SDK does
                                del stored[key]
                            stored.update(attrs)
                        return
    span.set_attributes(attrs)


def _is_sdk_span(span: Span) -> bool:
    """Whether ``span`` is exactly the SDK's span, with the attribute storage :func:`set_clean_attributes` knows."""
    sdk = sys.modules.get("opentelemetry.sdk.trace")
    base = getattr(sdk, "Span", None)
    if base is None or type(span) not in (base, getattr(sdk, "_Span", None)):
        return False
    if type(span).set_attributes is not base.set_attributes:
        return False
    try:
        from opentelemetry.attributes import BoundedAttributes

        bounded = span._attributes  # type: ignore[attr-defined]
        return (
            type(bounded) is BoundedAttributes
            and isinstance(bounded._dict, dict)
            and isinstance(bounded._immutable, bool)
            and hasattr(bounded, "maxlen")
            and hasattr(bounded, "max_value_len")
            and hasattr(bounded._lock, "__enter__")
            and hasattr(span._lock, "__enter__")  # type: ignore[attr-defined]
            and hasattr(span, "_end_time")
        )
    except Exception:
        return False


def record_error(
    telemetry: Telemetry,
    span: Span,
    error: BaseException,
    request: tuple[tuple[Any, ...], dict[str, Any]] | None = None,
) -> None:
    """Error status and exception event, by the rule of :mod:`._redact`: credentials masked, and the content of
    ``request`` (given when content capture is off) removed, unless the user asked for raw messages."""
    if telemetry.raw_errors:
        span.set_status(StatusCode.ERROR, str(error))
        span.record_exception(error)
        return
    from . import _redact  # the error path only: its patterns are compiled on the first failed call

    try:
        strings = _redact.request_strings(*request) if request is not None else None
        message = _redact.safe_text(str(error), strings)
        stacktrace = _redact.safe_text("".join(traceback.format_exception(error)), strings)
    except Exception:  # fail closed: the error's type is still recorded, its text is not
        internal_error("masking an error message")
        message = stacktrace = "[REDACTED]"
    span.set_status(StatusCode.ERROR, message)
    span.record_exception(error, {"exception.message": message, "exception.stacktrace": stacktrace})


def _content_event(
    telemetry: Telemetry, span: Span, record: CallRecord, attrs: dict[str, Any], content: dict[str, str]
) -> None:
    """The latest conventions' ``gen_ai.client.inference.operation.details`` event, through the logger provider,
    in the call's trace: the call's own attributes and its content."""
    from opentelemetry._logs import LogRecord

    attributes: dict[str, Any] = {sc.OPERATION_NAME: record.operation, sc.PROVIDER_NAME: record.provider}
    if record.request_model is not None:
        attributes[sc.REQUEST_MODEL] = record.request_model
    attributes.update(attrs)
    attributes.update(content)
    telemetry.event_logger().emit(
        LogRecord(event_name=sc.CONTENT_EVENT, attributes=attributes, context=trace.set_span_in_context(span))
    )


def _remember_credentials(client: Any, request: tuple[tuple[Any, ...], dict[str, Any]] | None) -> None:
    """Before an error is recorded: the exact credentials of its client and request become masked values."""
    if client is None and request is None:
        return
    from . import _redact

    try:
        _redact.remember_credentials(client, request[1] if request is not None else None)
    except Exception:
        internal_error("reading a client's credentials")


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
