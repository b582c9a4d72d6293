"""Model calls that come in groups: the results of a batch job, the responses of a realtime session.

An instrumentor hands each call's :class:`CallRecord` to a :class:`CallGroup`; the group's span (INTERNAL, not a
model call: the summary store does not count it) is the parent of every call span, and carries their roll-up
(requests, failed requests, tokens, dollars). Each call is an ordinary model-call span with its own metric points
and cost, so counts in metrics, the store and the fleet view are the sum of the calls, priced one by one (tiered
prices depend on each request's size, never on a batch's total).

Batch results are recorded once per process: :data:`ledger` remembers which results of which batch have been
counted, so reading a batch's output twice adds nothing the second time. Another process reading the same
results counts them again (nothing is shared between processes); the spans carry the batch id
(``agentmetrics.batch.id``) and each result's ``custom_id`` so a query can tell.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import suppress
from typing import Any

from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.trace import SpanKind, StatusCode

from . import _fork
from . import semconv as sc
from ._context import active_scopes
from ._guard import internal_error
from ._telemetry import Call, Telemetry
from .record import CallRecord
from .tools import ToolRun

BATCH_CUSTOM_ID = "agentmetrics.batch.custom_id"


class CallGroup:
    """One span over several model calls, with their roll-up. Safe to use from one thread at a time per group
    (a realtime session's receive loop, a batch's results read); :meth:`end` is idempotent."""

    def __init__(
        self,
        telemetry: Telemetry,
        name: str,
        attributes: dict[str, Any],
        counts: tuple[str, str] = (sc.BATCH_REQUESTS, sc.BATCH_FAILED_REQUESTS),
    ) -> None:
        self.telemetry = telemetry
        self._counts = counts
        self.requests = 0
        self.failed = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost: float | None = None
        self.unpriced = 0
        self._ended = False
        self._start = time.perf_counter()
        self.span: Any = trace.INVALID_SPAN
        try:
            self.span = telemetry.tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        except Exception:
            internal_error("starting a group span")

    @property
    def ended(self) -> bool:
        return self._ended

    def start(self, record: CallRecord) -> Call:
        """Open a model call inside the group (a realtime response); the caller ends it, then :meth:`add`.
        Scopes see it (budgets count its dollars) but cannot refuse it: the call already happened."""
        token = attach(trace.set_span_in_context(self.span))
        try:
            return Call(self.telemetry, record, active_scopes.get())
        finally:
            detach(token)

    @property
    def context(self) -> Any:
        """A context with the group's span current (its tool runs and calls are its children)."""
        return trace.set_span_in_context(self.span)

    def tool(self, name: str, call_id: str | None, arguments: Any, start_time: int) -> ToolRun:
        """A tool run inside the group that began at ``start_time`` (epoch ns): the model asked for it then."""
        token = attach(self.context)
        try:
            return ToolRun(self.telemetry, name, None, call_id, arguments, start_time=start_time)
        finally:
            detach(token)

    def record(self, record: CallRecord, error: str | None = None) -> None:
        """A model call already over (a batch result): its span, metric points and cost now."""
        call = self.start(record)
        if error is None:
            call.end()
        else:
            call.fail(error)
        self.add(record)

    def add(self, record: CallRecord) -> None:
        """Count an ended call in the group's roll-up."""
        self.requests += 1
        if record.error_type is not None:
            self.failed += 1
        self.input_tokens += record.input_tokens or 0
        self.output_tokens += record.output_tokens or 0
        if record.cost is not None:
            self.cost = (self.cost or 0.0) + record.cost
        elif record.input_tokens or record.output_tokens or record.usage_details:
            self.unpriced += 1

    def end(self, error_type: str | None = None, attributes: dict[str, Any] | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        span = self.span
        try:
            if span.is_recording():
                attrs: dict[str, Any] = {
                    self._counts[0]: self.requests,
                    self._counts[1]: self.failed,
                    sc.AGENT_INPUT_TOKENS: self.input_tokens,
                    sc.AGENT_OUTPUT_TOKENS: self.output_tokens,
                    sc.AGENT_UNPRICED_CALLS: self.unpriced,
                }
                if self.cost is not None:
                    attrs[sc.AGENT_COST] = round(self.cost * 1e12) / 1e12
                if attributes:
                    attrs.update(attributes)
                if error_type is not None:
                    attrs[sc.ERROR_TYPE] = error_type
                    span.set_status(StatusCode.ERROR, error_type)
                span.set_attributes(attrs)
            span.end()
        except Exception:
            internal_error("ending a group span")
            with suppress(Exception):
                span.end()


class Ledger:
    """Which results of which batch were counted in this process (bounded: the oldest batches are forgotten)."""

    def __init__(self, batches: int = 256) -> None:
        self._limit = batches
        self._seen: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
        self._marked: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the child's counts start from what the parent counted, under a fresh lock

    def first(self, provider: str, batch: str, result: str) -> bool:
        """True the first time result ``result`` of ``batch`` is seen here: count it then, never again."""
        key = (provider, batch)
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = set()
                if len(self._seen) > self._limit:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(key)
            if result in seen:
                return False
            seen.add(result)
            return True

    def mark_once(self, provider: str, batch: str) -> bool:
        """True the first time a batch's end state (failed, expired, cancelled) is reported here."""
        key = (provider, batch)
        with self._lock:
            if key in self._marked:
                return False
            self._marked[key] = None
            if len(self._marked) > self._limit * 16:
                self._marked.popitem(last=False)
            return True


ledger = Ledger()


def chunk_stamp(call: Call) -> Any:
    """The function that records a streamed chunk's arrival (``perf_counter()``) for a call: the first one is the
    call's time to first chunk, the gaps its time per output chunk."""
    return call._chunk_times.append


def batch_group(telemetry: Telemetry, provider: str, batch_id: str | None, attributes: dict[str, Any]) -> CallGroup:
    """The span over one read of a batch's results: ``batch <id>``."""
    attrs = {
        sc.CUSTOM_OPERATION_NAME: sc.OP_BATCH,
        sc.PROVIDER_NAME: provider,
        sc.PROCESSING: sc.PROCESSING_BATCH,
        **attributes,
    }
    if batch_id is not None:
        attrs[sc.BATCH_ID] = batch_id
    return CallGroup(telemetry, f"{sc.OP_BATCH} {batch_id}" if batch_id else sc.OP_BATCH, attrs)


def mark_batch(telemetry: Telemetry, provider: str, batch_id: str, status: str, attributes: dict[str, Any]) -> None:
    """A batch that ended without (all of) its results (failed, expired, cancelled): one error span, once per
    process, with no tokens: whatever results it has are counted when they are read."""
    if not ledger.mark_once(provider, batch_id):
        return
    group = batch_group(telemetry, provider, batch_id, {sc.BATCH_STATUS: status})
    group.end(status, attributes)  # the provider's own request counts, not the (no) results read here
