"""Any other operation worth timing (a database query, a retrieval step, a request handler): a span, a
duration histogram, an in-flight count and errors, on the OpenTelemetry metrics API.

Usage::

    @agentmetrics.operation("db_query")
    def load_user(user_id): ...

    with agentmetrics.operation("rerank"):
        ranked = rerank(docs)

Metrics: ``agentmetrics.operation.duration`` (by ``agentmetrics.operation.name`` and ``error.type``: its count
is the number of runs, and the count with ``error.type`` set the number of errors) and
``agentmetrics.operation.active``. Allow-listed attribution (``metric_attributes``) is added to both.
"""

from __future__ import annotations

from typing import Any

from . import _active
from . import semconv as sc
from ._runs import SpanRun, Spec
from ._telemetry import Telemetry


class OperationInstruments:
    def __init__(self, telemetry: Telemetry) -> None:
        self.duration = telemetry.meter.create_histogram(
            sc.METRIC_CUSTOM_OPERATION_DURATION,
            unit="s",
            description="Duration of operations recorded with agentmetrics.operation, by name and error type.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self.active = telemetry.meter.create_up_down_counter(
            sc.METRIC_CUSTOM_OPERATIONS_ACTIVE, unit="{operation}", description="Operations in progress."
        )


def instruments(telemetry: Telemetry) -> OperationInstruments:
    return telemetry.instruments(OperationInstruments)


class OperationRun(SpanRun):
    def __init__(self, telemetry: Telemetry, name: str, attributes: dict[str, Any]) -> None:
        super().__init__(telemetry, name, {**attributes, sc.CUSTOM_OPERATION_NAME: name})
        self._labels = {sc.CUSTOM_OPERATION_NAME: name, **self.metric_labels()}
        instruments(telemetry).active.add(1, self._labels)

    def finish(self, duration: float, result: Any) -> None:
        ops = instruments(self.telemetry)
        ops.active.add(-1, self._labels)
        attrs = self._labels if self.error_type is None else {**self._labels, sc.ERROR_TYPE: self.error_type}
        ops.duration.record(duration, attrs)


class operation(Spec):  # noqa: N801 - used like a function
    """Record a span (named ``name``), duration, in-flight count and errors for a block or function.

    Args:
        name: the operation's name: the span name and the metrics' label, so keep it low-cardinality.
        attributes: extra span attributes (not metric labels; see ``attributes()`` and ``metric_attributes``).
    """

    def __init__(self, name: str, *, attributes: dict[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("operation(name): name must be a non-empty string, e.g. operation('db_query')")
        self.name = name
        self._attributes = dict(attributes or {})

    def _begin(self) -> OperationRun:
        return OperationRun(_active.telemetry(), self.name, dict(self._attributes))
