"""What the A2A client and server sides share: the metrics, the span name, and reading tasks out of the SDK's
protobuf messages (a ``Task``, a ``Message``, a status or artifact update, or a client's ``StreamResponse`` around
one of them)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import SpanRun
from otel_agentmetrics._telemetry import Telemetry

PROPAGATION_KEYS = ("traceparent", "tracestate", "baggage")

SEND_METHODS = frozenset({"SendMessage", "SendStreamingMessage"})
"""The requests that run the agent: an agent invocation from the caller's side."""

_FAILED = 4  # TaskState.TASK_STATE_FAILED in the A2A 1.x protos (a2a.types.a2a_pb2)


class A2AInstruments:
    """``agentmetrics.a2a.client.duration`` and ``agentmetrics.a2a.server.duration`` of one :class:`Telemetry`."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.client = telemetry.meter.create_histogram(
            sc.METRIC_A2A_CLIENT_DURATION,
            unit="s",
            description="Duration of A2A requests as seen by the client, by method and remote agent.",
            explicit_bucket_boundaries_advisory=sc.MCP_DURATION_BUCKETS,
        )
        self.server = telemetry.meter.create_histogram(
            sc.METRIC_A2A_SERVER_DURATION,
            unit="s",
            description="Duration of A2A requests as handled by the server, by method and agent.",
            explicit_bucket_boundaries_advisory=sc.MCP_DURATION_BUCKETS,
        )


def instruments(telemetry: Telemetry) -> A2AInstruments:
    return telemetry.instruments(A2AInstruments)


def task_fields(event: Any) -> tuple[str, str, int]:
    """``(task id, context id, task state)`` of an A2A message or event; empty strings and 0 where it has none."""
    if type(event).__name__ == "StreamResponse":
        payload = event.WhichOneof("payload")
        if payload is None:
            return "", "", 0
        event = getattr(event, payload)
    kind = type(event).__name__
    if kind == "Task":
        return event.id, event.context_id, event.status.state
    if kind == "TaskStatusUpdateEvent":
        return event.task_id, event.context_id, event.status.state
    if kind in ("Message", "TaskArtifactUpdateEvent"):
        return event.task_id, event.context_id, 0
    return "", "", 0


def state_name(state: int) -> str | None:
    try:
        from a2a.types.a2a_pb2 import TaskState

        return str(TaskState.Name(state))
    except Exception:  # an unknown value from a newer peer
        return None


class A2ARun(SpanRun):
    """One A2A request on either side: the span, what the answer said of its task, the duration metric.

    ``watch_task``: the request returns the task's outcome (a message send, a resubscription), so a task that ended
    ``TASK_STATE_FAILED`` without an error answer fails the request (``error.type=task_failed``); a ``GetTask`` of
    a failed task is a request that worked.
    """

    def __init__(
        self,
        telemetry: Telemetry,
        name: str,
        attributes: dict[str, Any],
        kind: SpanKind,
        watch_task: bool,
        context: Any = None,
        links: Any = None,
    ) -> None:
        self.a2a_attributes: dict[str, Any] = {
            key: attributes[key] for key in (sc.RPC_METHOD, sc.AGENT_NAME) if key in attributes
        }
        self.side = kind
        self.watch_task = watch_task
        self.has_conversation = sc.CONVERSATION_ID in attributes
        self.task_id = ""
        self.context_id = ""
        self.state = 0
        super().__init__(telemetry, name, attributes, links, kind=kind, context=context)

    def observe(self, event: Any) -> None:
        """Read one answer or stream event (what the caller gets is not touched)."""
        try:
            task_id, context_id, state = task_fields(event)
        except Exception:
            internal_error("reading an A2A answer")
            return
        if task_id:
            self.task_id = task_id
        if context_id:
            self.context_id = context_id
        if state:
            self.state = state

    def observer(self, result: Any) -> Any:
        self.observe(result)
        return None

    def finish(self, duration: float, result: Any) -> None:
        span = self.span
        if self.task_id:
            span.set_attribute(sc.A2A_TASK_ID, self.task_id)
        if self.context_id and not self.has_conversation:
            span.set_attribute(sc.CONVERSATION_ID, self.context_id)
        if self.state:
            name = state_name(self.state)
            if name is not None:
                span.set_attribute(sc.A2A_TASK_STATE, name)
            if self.watch_task and self.state == _FAILED and self.error_type is None:
                self.error_type = sc.ERROR_TYPE_TASK_FAILED
        attributes = dict(self.a2a_attributes)
        if self.error_type is not None:
            attributes[sc.ERROR_TYPE] = self.error_type
        a2a = instruments(self.telemetry)
        (a2a.client if self.side is SpanKind.CLIENT else a2a.server).record(duration, attributes)


def span_name(method: str, agent: str | None) -> str:
    return f"{method} {agent}" if agent else method
