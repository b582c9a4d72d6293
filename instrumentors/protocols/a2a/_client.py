"""The A2A client (``a2a.client.BaseClient``, what ``create_client`` and ``ClientFactory`` return): a CLIENT span per
request, the W3C trace context in its service parameters (HTTP headers, gRPC metadata) so the server continues the
trace.

Sending a message is an agent invocation from the caller's side: ``invoke_agent {agent}``, the remote agent card's
name, ``gen_ai.operation.name=invoke_agent``. It is an async generator in a2a-sdk 1.x (streaming or not): the span
covers the iteration, ended when the stream ends, is closed early, or fails. The other requests are
``{method} {agent}`` (``GetTask weather``, ``CancelTask weather``, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._protocol_layer import A2A, ProtocolRequest, RequestRun, start_request
from otel_agentmetrics._runs import _aiterate, acall
from otel_agentmetrics._telemetry import Telemetry

from ._common import SEND_METHODS, TaskWatch

_CARD_ATTRIBUTE = "_agentmetrics_a2a_card"
"""On a client: ``(card, agent name, server attributes)``, what its agent card says, read once per card."""

REQUESTS = {
    "get_task": "GetTask",
    "list_tasks": "ListTasks",
    "cancel_task": "CancelTask",
    "create_task_push_notification_config": "CreateTaskPushNotificationConfig",
    "get_task_push_notification_config": "GetTaskPushNotificationConfig",
    "list_task_push_notification_configs": "ListTaskPushNotificationConfigs",
    "delete_task_push_notification_config": "DeleteTaskPushNotificationConfig",
    "get_extended_agent_card": "GetExtendedAgentCard",
}
"""``BaseClient`` coroutine methods -> the A2A method each sends."""


def _target(client: Any) -> tuple[str | None, dict[str, Any]]:
    """The name of the agent a client talks to, and its ``server.address``/``server.port``."""
    card = getattr(client, "_card", None)
    cached = getattr(client, _CARD_ATTRIBUTE, None)
    if cached is not None and cached[0] is card:
        return cached[1], cached[2]
    name = getattr(card, "name", None)
    agent = name if isinstance(name, str) and name else None
    server: dict[str, Any] = {}
    transport = getattr(client, "_transport", None)
    url = getattr(transport, "url", None) or getattr(getattr(transport, "_base", None), "url", None)
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        if parts.hostname:
            server[sc.SERVER_ADDRESS] = parts.hostname
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
            if port is not None:
                server[sc.SERVER_PORT] = port
    setattr(client, _CARD_ATTRIBUTE, (card, agent, server))
    return agent, server


def _method_of_send(client: Any) -> str:
    """What ``send_message`` sends: the streaming request when both the client's config and the card allow it."""
    config = getattr(client, "_config", None)
    card = getattr(client, "_card", None)
    streaming = getattr(config, "streaming", False) and getattr(getattr(card, "capabilities", None), "streaming", False)
    return "SendStreamingMessage" if streaming else "SendMessage"


def _open(telemetry: Telemetry, client: Any, method: str, message: Any) -> tuple[RequestRun, TaskWatch] | None:
    try:
        agent, server = _target(client)
        request = ProtocolRequest(A2A, SpanKind.CLIENT, method, target=agent, attributes=dict(server))
        if method in SEND_METHODS:
            request.name = request.operation = sc.OP_INVOKE_AGENT
            context_id = getattr(getattr(message, "message", None), "context_id", None)
            if isinstance(context_id, str) and context_id:
                request.attributes[sc.CONVERSATION_ID] = context_id
        watch = TaskWatch(request, watch_task=method in SEND_METHODS)
        return start_request(telemetry, request), watch
    except Exception:
        internal_error("reading an A2A request (client)")
        return None


def _with_trace_context(run: RequestRun, kwargs: dict[str, Any]) -> None:
    """Put the run's span context in the call's service parameters (a copy of the caller's ``ClientCallContext``:
    theirs is left as it was). The transports send them as HTTP headers or gRPC metadata."""
    try:
        carrier: dict[str, str] = {}
        inject(carrier, context=trace.set_span_in_context(run.span))
        if not carrier:
            return
        context = kwargs.get("context")
        if context is None:
            from a2a.client.client import ClientCallContext

            kwargs["context"] = ClientCallContext(service_parameters=carrier)
        else:
            parameters = {**(context.service_parameters or {}), **carrier}
            kwargs["context"] = context.model_copy(update={"service_parameters": parameters})
    except Exception:
        internal_error("putting the trace context in an A2A request")


def request_wrapper(telemetry: Telemetry, method: str) -> Callable[..., Any]:
    """Wraps a ``BaseClient`` coroutine method (``get_task(request, *, context=None)``, ...)."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        opened = _open(telemetry, instance, method, args[0] if args else kwargs.get("request"))
        if opened is None:
            return await wrapped(*args, **kwargs)
        run = opened[0]
        kwargs = dict(kwargs)
        _with_trace_context(run, kwargs)
        return await acall(run, wrapped, args, kwargs)

    return traced


def stream_wrapper(telemetry: Telemetry, method: str | None) -> Callable[..., Any]:
    """Wraps a ``BaseClient`` async-generator method: ``send_message`` (``method=None``: which request it sends
    depends on the client's config and the card) or ``subscribe``. Still an async generator: nothing is sent, and no
    span started, until the caller iterates."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _stream(telemetry, method, wrapped, instance, args, kwargs)

    return traced


async def _stream(
    telemetry: Telemetry,
    method: str | None,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncIterator[Any]:
    try:
        name = method or _method_of_send(instance)
    except Exception:
        internal_error("reading an A2A request (client)")
        name = None
    opened = None if name is None else _open(telemetry, instance, name, args[0] if args else kwargs.get("request"))
    if opened is None:
        steps = wrapped(*args, **kwargs)
    else:
        run, watch = opened
        kwargs = dict(kwargs)
        _with_trace_context(run, kwargs)
        with run.activate():
            steps = _aiterate(run, wrapped(*args, **kwargs), False)
    try:
        async for step in steps:
            if opened is not None:
                watch.observe(step)
            yield step
    finally:  # closed early: close the SDK's stream now, as a caller closing it directly would
        await steps.aclose()
