"""The MCP client: a CLIENT span per request sent by ``ClientSession.send_request``, context in ``params._meta``.

``tools/call`` is the tool run (``gen_ai.operation.name=execute_tool``, ``gen_ai.tool.type=extension``): one span,
never two. If a framework already runs that tool one layer up (an agent framework's own ``execute_tool`` span),
that span gets the MCP attributes instead of a second span, as the conventions ask.

mcp 2.x traces itself (a ``MCP send {method}`` CLIENT span and the injection of ``traceparent`` into
``params._meta``, both in its JSON-RPC dispatcher). While a request of ours is being sent, the SDK's span is handed
off: it is given a non-recording span carrying ours, so it records nothing and its injection writes our span's
context. On mcp 1.x, which propagates nothing, we inject into ``params._meta`` ourselves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import NonRecordingSpan, SpanKind

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._protocol_layer import ProtocolRequest, RequestRun, start_request
from otel_agentmetrics._runs import acall
from otel_agentmetrics._telemetry import Telemetry

from ._common import describe, error_code


@dataclass(slots=True, eq=False)
class _Sending:
    request: ProtocolRequest
    claimed: bool = False
    """The mcp 2.x SDK's own span for the request has been handed off to ours."""


_sending: ContextVar[_Sending | None] = ContextVar("agentmetrics_mcp_sending", default=None)
"""Our client request being sent: the mcp 2.x SDK's own span for it is handed off to ours."""

_VERSION_ATTRIBUTE = "_agentmetrics_mcp_protocol_version"


def _open(telemetry: Telemetry, instance: Any, request: Any, notification: bool) -> RequestRun | None:
    root = getattr(request, "root", request)
    method = getattr(root, "method", None)
    if not isinstance(method, str):
        return None
    record = describe(SpanKind.CLIENT, method, getattr(root, "params", None))
    version = getattr(instance, _VERSION_ATTRIBUTE, None)
    if version is not None:
        record.attributes[sc.MCP_PROTOCOL_VERSION] = version
    request_id = None if notification else getattr(instance, "_request_id", None)  # 1.x: the next request's id
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        record.attributes[sc.JSONRPC_REQUEST_ID] = str(request_id)
    return start_request(telemetry, record)


def _tool_output(request: ProtocolRequest) -> Callable[[Any], Any]:
    def read(result: Any) -> Any:
        """What of a ``CallToolResult`` the tool run records; ``isError`` marks the request failed (``tool_error``)."""
        if getattr(result, "is_error", None) or getattr(result, "isError", None):
            request.error_type = sc.ERROR_TYPE_TOOL
        structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
        if structured is not None:
            return structured
        content = getattr(result, "content", None)
        if isinstance(content, list):
            return [getattr(part, "text", None) or str(part) for part in content]
        return result

    return read


def _with_context(request: Any) -> Any:
    """mcp 1.x: a copy of the request whose ``params._meta`` carries the current trace context (the caller's
    request object is left as it was)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    if not carrier:
        return request
    root = getattr(request, "root", None)
    params = getattr(request if root is None else root, "params", None)
    meta_type = getattr(type(params), "Meta", None)
    if params is not None and meta_type is not None and hasattr(params, "model_copy"):
        # Shallow copies: nothing of the request is validated or dumped twice.
        old = params.meta.model_dump(by_alias=True, exclude_none=True) if params.meta is not None else {}
        params = params.model_copy(update={"meta": meta_type.model_validate({**old, **carrier})})
        if root is None:
            return request.model_copy(update={"params": params})
        return request.model_copy(update={"root": root.model_copy(update={"params": params})})
    data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
    params = data.get("params") or {}
    params["_meta"] = {**(params.get("_meta") or {}), **carrier}
    data["params"] = params
    return type(request).model_validate(data)


def send_wrapper(telemetry: Telemetry, notification: bool = False) -> Callable[..., Any]:
    """Wraps ``send_request(request, result_type, ...)`` or ``send_notification(notification)`` of the client
    session (2.x), or of any session (1.x's ``BaseSession``: a request a server sends is a CLIENT span too, as
    the conventions say; a server's notifications are left alone)."""
    key = "notification" if notification else "request"

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            if notification and not type(instance).__module__.startswith("mcp.client"):
                run = None
            else:
                run = _open(telemetry, instance, args[0] if args else kwargs[key], notification)
        except Exception:
            internal_error("reading an MCP request")
            run = None
        if run is None:
            return await wrapped(*args, **kwargs)
        request = run.request
        # mcp 2.x injects the context of requests (not of notifications) itself; 1.x never does.
        inject_here = notification or "mcp.shared._otel" not in sys.modules

        async def send(*call_args: Any, **call_kwargs: Any) -> Any:
            if inject_here:
                try:
                    if call_args:
                        call_args = (_with_context(call_args[0]), *call_args[1:])
                    else:
                        call_kwargs[key] = _with_context(call_kwargs[key])
                except Exception:
                    internal_error("putting the trace context in an MCP message's _meta")
            token = _sending.set(_Sending(request))
            try:
                return await wrapped(*call_args, **call_kwargs)
            except BaseException as error:
                request.status_code = error_code(error)
                raise
            finally:
                _sending.reset(token)

        output = _tool_output(request) if request.method == "tools/call" else None
        result = await acall(run, send, args, kwargs, output)
        if request.method == "initialize":
            _remember_version(instance, result)
        return result

    return traced


def _remember_version(session: Any, result: Any) -> None:
    try:
        version = getattr(result, "protocol_version", None) or getattr(result, "protocolVersion", None)
        if isinstance(version, str):
            setattr(session, _VERSION_ATTRIBUTE, version)
    except Exception:
        internal_error("reading the MCP protocol version")


# -- mcp 2.x: the SDK's own client span ------------------------------------------------------------------------


@contextmanager
def _handed_off() -> Iterator[Any]:
    yield NonRecordingSpan(trace.get_current_span().get_span_context())


def sdk_span_handoff(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``mcp.shared.jsonrpc_dispatcher.otel_span``: while a request of ours is sent, the SDK's CLIENT span
    for it becomes a non-recording span carrying ours (it records nothing; its ``_meta`` injection writes ours)."""
    sending = _sending.get()
    if sending is None or sending.claimed or kwargs.get("kind") is not SpanKind.CLIENT:
        return wrapped(*args, **kwargs)
    attributes = kwargs.get("attributes") or {}
    request = sending.request
    if attributes.get(sc.MCP_METHOD_NAME) != request.method:
        return wrapped(*args, **kwargs)
    sending.claimed = True
    try:
        request_id = attributes.get(sc.JSONRPC_REQUEST_ID)
        if request_id is not None and sc.JSONRPC_REQUEST_ID not in request.attributes:
            request.attributes[sc.JSONRPC_REQUEST_ID] = str(request_id)  # set on the span when it ends
    except Exception:
        internal_error("reading the MCP SDK's request id")
    return _handed_off()


# -- transports ------------------------------------------------------------------------------------------------

_PASSED_ON = ("OTEL_", "AGENTMETRICS_")
_KEPT_BACK = frozenset({"OTEL_SERVICE_NAME"})
"""The server is another service: it names itself (``instrument(service_name=...)``, or its own ``env``)."""


def default_environment_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``mcp.client.stdio.get_default_environment``: the server process the stdio client starts gets only
    an allow-list of variables (``HOME``, ``PATH``, ...); ours and OpenTelemetry's settings are added (but
    ``OTEL_SERVICE_NAME``), so an instrumented server exports where its client does. ``StdioServerParameters.env``
    still wins."""
    environment = wrapped(*args, **kwargs)
    try:
        if isinstance(environment, dict):
            for key, value in os.environ.items():
                if key.startswith(_PASSED_ON) and key not in _KEPT_BACK and key not in environment:
                    environment[key] = value
    except Exception:
        internal_error("passing the OpenTelemetry settings to an MCP stdio server")
    return environment
