"""Retrieval and vector-store writes: the neutral record, its span and metrics, and one span per retrieval.

A store integration (``instrumentors/retrieval/<store>.py``) fills a :class:`RetrievalRecord` from its library's
request and result shapes, most simply through the wrappers of :mod:`otel_agentmetrics._retrieval_layer`; the
core (this module) alone turns the record into a span, metric points and the agent run's roll-up.

**One span per retrieval, however many layers take part.** While a store operation is open (its span started,
not ended), a store operation started inside it, in the same context (thread, asyncio task, or a thread given
the context), opens no span: its record is *folded* into the open one by :meth:`RetrievalCall.absorb`. A
LangChain retriever over an instrumented Chroma collection therefore gives one ``retrieval`` span that carries
Chroma's details. Which layer's value wins:

- the store's details (``db_system``, ``collection``, ``db_operation``, ``server_address``/``server_port``) come
  from the innermost layer that reported them (the store knows them best; a framework's values are fallbacks);
- the request and response (``top_k``, ``returned_rows``, ``data_source_id``, ``query_text``, ``documents``)
  from the outermost layer (what the caller asked for and got), filled from inner layers where it left ``None``;
  the rows and documents only when both are queries (a memory ``add`` that searches first does not report the
  search's rows as its own).

The span: named ``{operation} {data source or collection}`` (``retrieval docs``), kind ``CLIENT``, with
``gen_ai.operation.name``, ``db.system.name``, ``db.collection.name``, ``db.operation.name``,
``db.response.returned_rows``, ``gen_ai.request.top_k``, ``gen_ai.data_source.id``, ``server.address``/``port``
and ``error.type`` on failure (the exception is the user's, unchanged). With content capture on,
``gen_ai.retrieval.query.text`` and ``gen_ai.retrieval.documents`` (JSON: ``[{"id": ..., "score": ...}]``); with
it off, never, whatever the record holds.

The metrics, following the database conventions (the store call is a database client call; the GenAI
conventions give retrieval no metric of their own in the version we follow): ``db.client.operation.duration``
(seconds) and ``db.client.response.returned_rows``, both with ``gen_ai.operation.name`` so retrievals and writes
split, plus ``db.system.name``, ``db.collection.name``, ``db.operation.name``, ``error.type`` and the
allow-listed attribution of the scopes around the call.
"""

from __future__ import annotations

import json
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanContext, SpanKind

from . import _fork
from . import semconv as sc
from ._context import active_scopes
from ._guard import internal_error
from ._metrics import _SERIES_LIMIT, BATCH, _add, _Series, record_series
from ._telemetry import Telemetry, record_error

QUERY_OPERATIONS = frozenset({sc.OP_RETRIEVAL, sc.OP_SEARCH_MEMORY})
"""Operations that read: counted as retrievals in an agent run's roll-up, and the only ones whose rows fold."""


@dataclass(slots=True, eq=False)
class RetrievalRecord:
    """Everything known about one store operation (a query, a write, a memory operation), in store-neutral terms.

    ``None`` means "not known" and is never recorded. An instrumentor fills what its library tells it; the core
    decides what reaches the span (content only with capture on) and fills ``error_type`` and ``duration``.
    """

    operation: str = sc.OP_RETRIEVAL
    """``gen_ai.operation.name``: :data:`~otel_agentmetrics.semconv.OP_RETRIEVAL` for a query or search,
    ``OP_ADD_DOCUMENTS``/``OP_DELETE_DOCUMENTS`` for writes, the ``*_MEMORY`` operations for memory layers."""
    db_system: str | None = None
    """``db.system.name``: one value per store (``chroma``, ``qdrant``, ``lancedb``, ``faiss``, ...)."""
    collection: str | None = None
    """``db.collection.name``: the collection, table or index."""
    db_operation: str | None = None
    """``db.operation.name``: the store's own name for the call (``query``, ``query_points``, ``search``, ``add``)."""
    top_k: int | None = None
    """``gen_ai.request.top_k``: how many results were asked for."""
    returned_rows: int | None = None
    """``db.response.returned_rows``: how many results came back (for a write: rows written, when known)."""
    server_address: str | None = None
    server_port: int | None = None
    """``server.address``/``server.port``: for remote stores only (an embedded engine has none)."""
    data_source_id: str | None = None
    """``gen_ai.data_source.id``: the data source as the GenAI layer names it (a retriever's or index's id)."""
    query_text: str | None = None
    """The query's text, if it has one (a vector has none). Recorded only with content capture on."""
    documents: list[dict[str, Any]] | None = None
    """The returned documents' ``{"id": ..., "score": ...}``; fill only when the reader is told capture is on."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Anything store-specific worth keeping on the span (not content)."""

    # Filled by the core.
    error_type: str | None = None
    duration: float | None = None

    @property
    def is_query(self) -> bool:
        return self.operation in QUERY_OPERATIONS


class RetrievalInstruments:
    """The retrieval metrics of one :class:`Telemetry` (created on first use), recorded in batches.

    As for model calls (:mod:`otel_agentmetrics._metrics`), an ended operation appends its values to the series
    they belong to; the points are recorded, each series in one go with the exemplars the SDK would keep, when a
    reader collects (the in-flight counter's callback runs first) or when :data:`BATCH` operations are waiting.
    A reader therefore sees every operation that ended before it collected, as if each had been recorded at once.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        meter = telemetry.meter
        self.duration = meter.create_histogram(
            sc.METRIC_DB_OPERATION_DURATION,
            unit="s",
            description="Duration of vector-store and retrieval operations, by operation, store and collection.",
            explicit_bucket_boundaries_advisory=sc.DB_DURATION_BUCKETS,
        )
        self.returned_rows = meter.create_histogram(
            sc.METRIC_DB_RETURNED_ROWS,
            unit="{row}",
            description="Rows (documents, points, vectors) returned by vector-store and retrieval operations.",
            explicit_bucket_boundaries_advisory=sc.ROW_BUCKETS,
        )
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._waiting: list[_Series] = []
        self._waiting_count = 0
        meter.create_observable_up_down_counter(
            sc.METRIC_STORE_OPERATIONS_ACTIVE,
            callbacks=[self._observe],
            unit="{operation}",
            description="Store operations (retrievals, writes) in flight, by gen_ai.operation.name.",
        )
        self._meter = meter
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._in_flight, self._series, self._waiting, self._waiting_count = {}, {}, [], 0

    def started(self, operation: str) -> None:
        with self._lock:
            self._in_flight[operation] = self._in_flight.get(operation, 0) + 1

    def ended(self, started_as: str, attrs: dict[str, Any], record: RetrievalRecord, context: SpanContext) -> None:
        """Out of flight (under the operation it started as), and its duration and rows added to the waiting
        points; ``attrs`` are the metric attributes without ``error.type``."""
        key = tuple(attrs.items())
        rows = record.returned_rows
        with self._lock:
            self._in_flight[started_as] = self._in_flight.get(started_as, 1) - 1
            if len(self._series) >= _SERIES_LIMIT:
                self._series.clear()  # series still waiting keep their values; only the index is rebuilt
            timed = self._get(self.duration, key, record.error_type, attrs)
            _add(self._waiting, timed, record.duration or 0.0, context)
            if rows is not None:
                _add(self._waiting, self._get(self.returned_rows, key, None, attrs), rows, context)
            self._waiting_count += 1
            full = self._waiting_count >= BATCH
        if full:
            self.record_ended()

    def _get(self, histogram: Any, key: tuple[Any, ...], error_type: str | None, attrs: dict[str, Any]) -> _Series:
        series_key = (histogram is self.duration, key, error_type)
        series = self._series.get(series_key)
        if series is None:
            labels = attrs if error_type is None else {**attrs, sc.ERROR_TYPE: error_type}
            series = self._series[series_key] = _Series(histogram, labels)
        return series

    def record_ended(self) -> None:
        """Record the points of every operation that ended so far; each value is taken once."""
        with self._lock:
            taken = [(series.histogram, series.attributes, series.values, series.contexts) for series in self._waiting]
            for series in self._waiting:
                series.values, series.contexts = [], []
            self._waiting = []
            self._waiting_count = 0
        for histogram, attributes, values, contexts in taken:
            try:
                record_series(histogram, attributes, values, contexts)
            except Exception:
                internal_error("recording a batch of retrieval points")

    def _observe(self, options: CallbackOptions) -> list[Observation]:
        try:
            self.record_ended()
        except Exception:
            internal_error("recording ended store operations before a collection")
        with self._lock:
            return [Observation(count, {sc.OPERATION_NAME: op}) for op, count in self._in_flight.items()]


def instruments(telemetry: Telemetry) -> RetrievalInstruments:
    return telemetry.instruments(RetrievalInstruments)


_open: ContextVar[RetrievalCall | None] = ContextVar("agentmetrics_open_retrieval", default=None)
nesting: ContextVar[int] = ContextVar("agentmetrics_retrieval_nesting", default=0)
"""How many layers below the open operation's own the running store call is (see :meth:`RetrievalCall.absorb`)."""

_STORE_FIELDS = ("db_system", "collection", "db_operation", "server_address", "server_port")
_REQUEST_FIELDS = ("top_k", "data_source_id", "query_text")
_RESULT_FIELDS = ("returned_rows", "documents")


def open_retrieval() -> RetrievalCall | None:
    """The store operation in progress in this context, if any (its span is open): a call inside it folds."""
    outer = _open.get()
    return outer if outer is not None and not outer.ended else None


class RetrievalCall:
    """One store operation in flight: its span, clock and record. Made current by :meth:`activate` while the
    library's code runs, ended once by :meth:`end` or :meth:`fail`."""

    __slots__ = (
        "telemetry",
        "record",
        "span",
        "_scopes",
        "_start",
        "_ended",
        "_request",
        "_depths",
        "_started",
        "_instruments",
    )

    def __init__(self, telemetry: Telemetry, record: RetrievalRecord) -> None:
        self.telemetry = telemetry
        self.record = record
        self._scopes: tuple[Any, ...] = active_scopes.get()
        self._ended = False
        self._request: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._depths: dict[str, int] = {}  # field -> how deep the layer that set it ran (own fields: 0)
        self.span: Span = trace.INVALID_SPAN
        self._started: dict[str, Any] = {}  # what the span started with: only changes are set at the end
        self._instruments: RetrievalInstruments | None = None
        try:
            attrs: dict[str, Any] = {}
            for scope in self._scopes:  # attribution first, so the call's own attributes win a clash
                attrs.update(scope.span_attributes)
            self._started = _attributes(record)
            attrs.update(self._started)
            self.span = telemetry.tracer.start_span(_span_name(record), kind=SpanKind.CLIENT, attributes=attrs)
            self._instruments = instruments(telemetry)
            self._instruments.started(record.operation)
        except Exception:
            internal_error("starting a retrieval span")
        self._start = time.perf_counter()

    @property
    def ended(self) -> bool:
        return self._ended

    def activate(self) -> tuple[Any, Any, Any]:
        """Make this call the open store operation and its span current; returns the tokens for
        :meth:`deactivate` (store calls nested inside fold into this one; HTTP client spans nest under it)."""
        return _open.set(self), nesting.set(0), otel_context.attach(trace.set_span_in_context(self.span))

    @staticmethod
    def deactivate(tokens: tuple[Any, Any, Any]) -> None:
        opened, depth, attached = tokens
        otel_context.detach(attached)
        nesting.reset(depth)
        _open.reset(opened)

    def absorb(self, inner: RetrievalRecord, depth: int = 1) -> None:
        """Fold the record of a store operation made inside this one (see the module's rules); ``depth`` is how
        many layers down it ran (1: called by this operation's own layer), so the innermost store's details win
        whichever layer ends first."""
        try:
            record = self.record
            depths = self._depths
            for name in _STORE_FIELDS:
                value = getattr(inner, name)
                if value is not None and depth >= depths.get(name, 0):
                    setattr(record, name, value)
                    depths[name] = depth
            fields = _REQUEST_FIELDS + _RESULT_FIELDS if record.is_query and inner.is_query else _REQUEST_FIELDS
            for name in fields:
                value = getattr(inner, name)
                if value is not None and (getattr(record, name) is None or depth < depths.get(name, 0)):
                    setattr(record, name, value)
                    depths[name] = depth
            for key, value in inner.attributes.items():
                record.attributes.setdefault(key, value)
        except Exception:
            internal_error("folding a nested store operation")

    def end(self) -> None:
        """End the operation successfully. Only the first :meth:`end` or :meth:`fail` counts."""
        if self._ended:
            return
        self._ended = True
        self._finish(None)

    def fail(self, error: BaseException, request: tuple[tuple[Any, ...], dict[str, Any]] | None = None) -> None:
        """End the operation with the user's exception; ``request`` (the call's ``(args, kwargs)``) lets the error
        message be cleaned of the query's content when capture is off."""
        if self._ended:
            return
        self._ended = True
        self._request = request
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        record = self.record
        record.duration = time.perf_counter() - self._start
        telemetry = self.telemetry
        span = self.span
        try:
            if error is not None:
                record.error_type = type(error).__qualname__
            if span.is_recording():
                started = self._started
                attrs = {k: v for k, v in _attributes(record).items() if started.get(k) != v}
                if record.returned_rows is not None:
                    attrs[sc.DB_RESPONSE_RETURNED_ROWS] = record.returned_rows
                if record.error_type is not None:
                    attrs[sc.ERROR_TYPE] = record.error_type
                if record.attributes:
                    attrs.update(record.attributes)
                capture = telemetry.capture
                if capture.enabled:
                    content = _content(record)
                    if content and capture.on_span:
                        attrs.update(content)
                    if content and capture.on_event:
                        span.add_event(sc.CONTENT_EVENT, content)
                span.set_attributes(attrs)
                name = _span_name(record)
                if name != span.name:  # type: ignore[attr-defined]
                    span.update_name(name)
                if error is not None:
                    record_error(telemetry, span, error, None if telemetry.capture_content else self._request)
            self._record_metrics()
        except Exception:
            internal_error("ending a retrieval span")
        finally:
            try:
                span.end()
            except Exception:
                internal_error("ending a retrieval span")
        for scope in self._scopes:
            after = getattr(scope, "after_retrieval", None)
            if after is None:
                continue
            try:
                after(record)
            except Exception:
                internal_error("a scope's after_retrieval")

    def _record_metrics(self) -> None:
        found = self._instruments
        if found is None:
            return
        record = self.record
        attrs: dict[str, Any] = {sc.OPERATION_NAME: record.operation}
        if record.db_system is not None:
            attrs[sc.DB_SYSTEM_NAME] = record.db_system
        if record.collection is not None:
            attrs[sc.DB_COLLECTION_NAME] = record.collection
        if record.db_operation is not None:
            attrs[sc.DB_OPERATION_NAME] = record.db_operation
        if record.server_address is not None:
            attrs[sc.SERVER_ADDRESS] = record.server_address
        if self._scopes:
            attrs.update(self.telemetry.labels.select(self._scopes))
        found.ended(self._started.get(sc.OPERATION_NAME, record.operation), attrs, record, self.span.get_span_context())


def start_retrieval(telemetry: Telemetry, record: RetrievalRecord) -> RetrievalCall | None:
    """Open a store operation, or fold it: ``None`` when one is already open in this context (the caller then
    hands its record to ``open_retrieval().absorb(...)`` once it has read the result)."""
    if open_retrieval() is not None:
        return None
    return RetrievalCall(telemetry, record)


def _span_name(record: RetrievalRecord) -> str:
    target = record.data_source_id or record.collection
    return f"{record.operation} {target}" if target else record.operation


def _attributes(record: RetrievalRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {sc.OPERATION_NAME: record.operation}
    for key, value in (
        (sc.DB_SYSTEM_NAME, record.db_system),
        (sc.DB_COLLECTION_NAME, record.collection),
        (sc.DB_OPERATION_NAME, record.db_operation),
        (sc.REQUEST_TOP_K, record.top_k),
        (sc.DATA_SOURCE_ID, record.data_source_id),
        (sc.SERVER_ADDRESS, record.server_address),
        (sc.SERVER_PORT, record.server_port),
    ):
        if value is not None:
            attrs[key] = value
    return attrs


def _content(record: RetrievalRecord) -> dict[str, str]:
    out: dict[str, str] = {}
    if record.query_text:
        out[sc.RETRIEVAL_QUERY_TEXT] = record.query_text
    if record.documents is not None:
        out[sc.RETRIEVAL_DOCUMENTS] = json.dumps(record.documents, default=str, ensure_ascii=False)
    return out
