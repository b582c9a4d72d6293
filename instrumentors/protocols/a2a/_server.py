"""The A2A server: a SERVER span per request the SDK's request handler (``DefaultRequestHandler``, the legacy one)
handles, whichever binding brought it (JSON-RPC, HTTP+JSON, gRPC), and the agent executor's run as the agent run.

The span's parent is the ``traceparent`` the client sent (an HTTP header, or gRPC metadata), which the SDK keeps in
the call context; when an HTTP server span of the same trace is already current (an ASGI instrumentation continued
it), that span. Named ``{method} {agent}`` (``SendMessage weather``), the agent being the server's own card.

The executor's ``execute`` is the agent run (``invoke_agent {agent}``, with the roll-up of the model calls and tools
inside). The SDK runs it in a task of its own, started from the request's context, so it sits under the request's
span. Executors are the user's classes: the class of the executor a handler holds is wrapped when that handler
first sends it a message, and unwrapped by ``uninstrument()``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.trace import Link, SpanKind
from wrapt import FunctionWrapper

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._context import active_scopes
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._protocol_layer import (
    A2A,
    PROPAGATION_KEYS,
    ProtocolRequest,
    RequestRun,
    current_request,
    start_request,
    trace_carrier,
)
from otel_agentmetrics._runs import _aiterate, acall
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun

from ._common import SEND_METHODS, TaskWatch

REQUESTS = {
    "on_message_send": "SendMessage",
    "on_get_task": "GetTask",
    "on_list_tasks": "ListTasks",
    "on_cancel_task": "CancelTask",
    "on_create_task_push_notification_config": "CreateTaskPushNotificationConfig",
    "on_get_task_push_notification_config": "GetTaskPushNotificationConfig",
    "on_list_task_push_notification_configs": "ListTaskPushNotificationConfigs",
    "on_delete_task_push_notification_config": "DeleteTaskPushNotificationConfig",
    "on_get_extended_agent_card": "GetExtendedAgentCard",
}
"""Request-handler coroutine methods -> the A2A method each answers."""

STREAMS = {"on_message_send_stream": "SendStreamingMessage", "on_subscribe_to_task": "SubscribeToTask"}
"""Request-handler async-generator methods -> the A2A method."""

HANDLERS = (
    ("a2a.server.request_handlers.default_request_handler_v2", "DefaultRequestHandlerV2"),
    ("a2a.server.request_handlers.default_request_handler", "LegacyRequestHandler"),
)


def _carrier(call_context: Any) -> dict[str, str]:
    """The trace-context entries the client sent: the HTTP headers the SDK keeps in the call context's state
    (JSON-RPC, HTTP+JSON), or the gRPC call's metadata."""
    state = getattr(call_context, "state", None)
    if not isinstance(state, Mapping):
        return {}
    headers = state.get("headers")
    if isinstance(headers, Mapping):
        return trace_carrier(headers)
    grpc_context = state.get("grpc_context")
    if grpc_context is None:
        return {}
    found: dict[str, str] = {}
    for key, value in grpc_context.invocation_metadata() or ():
        if key in PROPAGATION_KEYS:
            found[key] = value if isinstance(value, str) else value.decode()
    return found


def _parent(call_context: Any) -> tuple[Context | None, list[Link] | None]:
    carrier = _carrier(call_context)
    if not carrier:
        return None, None
    parent = extract(carrier)
    sent = trace.get_current_span(parent).get_span_context()
    if not sent.is_valid:
        return None, None
    ambient = trace.get_current_span().get_span_context()
    if ambient.is_valid:
        if ambient.trace_id == sent.trace_id:
            return None, None  # an HTTP server span continued the client's trace already: ours goes under it
        return parent, [Link(ambient)]
    return parent, None


def _agent_name(handler: Any) -> str | None:
    card = getattr(handler, "_agent_card", None)
    name = getattr(card, "name", None)
    return name if isinstance(name, str) and name else None


def _open(
    telemetry: Telemetry, executors: ExecutorTracing, handler: Any, method: str, args: Any, kwargs: Any
) -> tuple[RequestRun, TaskWatch] | None:
    try:
        request = ProtocolRequest(A2A, SpanKind.SERVER, method, target=_agent_name(handler))
        params = args[0] if args else kwargs.get("params")
        call_context = args[1] if len(args) > 1 else kwargs.get("context")
        if method in SEND_METHODS:
            try:
                executors.watch(handler)
            except Exception:  # the request still gets its span
                internal_error("wrapping an A2A agent executor")
            context_id = getattr(getattr(params, "message", None), "context_id", None)
            if isinstance(context_id, str) and context_id:
                request.attributes[sc.CONVERSATION_ID] = context_id
        request.parent, request.links = _parent(call_context)
        watch = TaskWatch(request, watch_task=method in SEND_METHODS or method == "SubscribeToTask")
        return start_request(telemetry, request), watch
    except Exception:
        internal_error("reading an A2A request (server)")
        return None


def request_wrapper(telemetry: Telemetry, executors: ExecutorTracing, method: str) -> Callable[..., Any]:
    """Wraps a request handler's ``on_...(params, context)`` coroutine method."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        opened = _open(telemetry, executors, instance, method, args, kwargs)
        if opened is None:
            return await wrapped(*args, **kwargs)
        run, watch = opened
        return await acall(run, wrapped, args, kwargs, watch.observer)

    return traced


def stream_wrapper(telemetry: Telemetry, executors: ExecutorTracing, method: str) -> Callable[..., Any]:
    """Wraps a request handler's async-generator method (``on_message_send_stream``, ``on_subscribe_to_task``): the
    span covers the whole stream."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _stream(telemetry, executors, method, wrapped, instance, args, kwargs)

    return traced


async def _stream(
    telemetry: Telemetry,
    executors: ExecutorTracing,
    method: str,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    opened = _open(telemetry, executors, instance, method, args, kwargs)
    if opened is None:
        steps = wrapped(*args, **kwargs)
    else:
        run, watch = opened
        with run.activate():
            steps = _aiterate(run, wrapped(*args, **kwargs), False)
    try:
        async for step in steps:
            if opened is not None:
                watch.observe(step)
            yield step
    finally:
        await steps.aclose()


# -- the agent executor's run -------------------------------------------------------------------------------------


class _ExecutorRun(AgentRun):
    """The executor's run; cancelled (a ``CancelTask``, the task's end) is an end, not a failure."""

    def fail(self, error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError):
            self.end()
        else:
            super().fail(error)


def _open_executor(telemetry: Telemetry, executor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        serving = current_request()  # the request the SDK started the executor's task from
        agent = None
        if serving is not None and serving.protocol == A2A and serving.side is SpanKind.SERVER:
            agent = serving.target
        name = agent or type(executor).__name__
        for scope in reversed(active_scopes.get()):
            if isinstance(scope, AgentRun):
                if scope.name == name and not scope.ended:
                    return None  # a subclass's execute calling its parent's: one run
                break
        request = args[0] if args else kwargs.get("context")
        attributes: dict[str, Any] = {sc.OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.AGENT_NAME: name}
        context_id = getattr(request, "context_id", None)
        if isinstance(context_id, str) and context_id:
            attributes[sc.CONVERSATION_ID] = context_id
        return _ExecutorRun(telemetry, name, attributes)
    except Exception:
        internal_error("opening an A2A agent executor's run")
        return None


class ExecutorTracing:
    """Wraps the ``execute`` of the executor classes the request handlers hold, each once; undone by :meth:`undo`."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.seen: weakref.WeakSet[type] = weakref.WeakSet()
        self.applied: list[tuple[type, Any]] = []
        self.on = True

        async def execute(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            run = _open_executor(telemetry, instance, args, kwargs) if self.on else None
            if run is None:
                return await wrapped(*args, **kwargs)
            return await acall(run, wrapped, args, kwargs)

        self.wrapper = execute

    def watch(self, handler: Any) -> None:
        executor = getattr(handler, "agent_executor", None)
        if executor is None or not self.on:
            return
        cls = type(executor)
        if cls in self.seen:
            return
        self.seen.add(cls)
        owner = next((klass for klass in cls.__mro__ if "execute" in klass.__dict__), None)
        if owner is None or owner.__module__.startswith("a2a."):
            return  # the abstract method, or none: nothing of the user's to run
        if any(patched is owner for patched, _ in self.applied):
            return  # a subclass whose parent's execute is wrapped already
        original = owner.__dict__["execute"]
        if not asyncio.iscoroutinefunction(original):
            return
        owner.execute = FunctionWrapper(original, self.wrapper)  # type: ignore[attr-defined]
        self.applied.append((owner, original))

    def undo(self) -> None:
        self.on = False
        for owner, original in reversed(self.applied):
            owner.execute = original
        self.applied = []
