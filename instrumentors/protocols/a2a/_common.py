"""What the A2A client and server sides share: reading tasks out of the SDK's protobuf messages (a ``Task``, a
``Message``, a status or artifact update, or a client's ``StreamResponse`` around one of them) into the request's
record as the answers come."""

from __future__ import annotations

from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._protocol_layer import ProtocolRequest

SEND_METHODS = frozenset({"SendMessage", "SendStreamingMessage"})
"""The requests that run the agent: an agent invocation from the caller's side."""

_FAILED = 4  # TaskState.TASK_STATE_FAILED in the A2A 1.x protos (a2a.types.a2a_pb2)


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


class TaskWatch:
    """What the answers to one request say of its task, written into the request's record: the task's id, its
    context (``gen_ai.conversation.id``, unless the request named one), its last state.

    ``watch_task``: the request returns the task's outcome (a message send, a resubscription), so a task that ended
    ``TASK_STATE_FAILED`` fails the request (``error.type=task_failed``, unless it raised); a ``GetTask`` of a
    failed task is a request that worked.
    """

    __slots__ = ("request", "watch_task", "has_conversation")

    def __init__(self, request: ProtocolRequest, watch_task: bool) -> None:
        self.request = request
        self.watch_task = watch_task
        self.has_conversation = sc.CONVERSATION_ID in request.attributes

    def observe(self, event: Any) -> None:
        """Read one answer or stream event (what the caller gets is not touched)."""
        try:
            task_id, context_id, state = task_fields(event)
        except Exception:
            internal_error("reading an A2A answer")
            return
        request = self.request
        if task_id:
            request.attributes[sc.A2A_TASK_ID] = task_id
        if context_id and not self.has_conversation:
            request.attributes[sc.CONVERSATION_ID] = context_id
        if state:
            request.attributes[sc.A2A_TASK_STATE] = state_name(state)  # None (unknown): not recorded
            request.error_type = sc.ERROR_TYPE_TASK_FAILED if self.watch_task and state == _FAILED else None

    def observer(self, result: Any) -> Any:
        self.observe(result)
        return None
