"""The MCP server (the low-level ``Server``, so FastMCP and ``MCPServer`` too): a SERVER span per request.

Its parent is the context the client put in ``params._meta``; without one (a client without tracing), the
``traceparent`` header of the HTTP request that carried the message (streamable HTTP, SSE); without either, the
current context. The tool's own work (its model calls, nested tools) runs inside the span, so it hangs below.

mcp 2.x wraps every request in its own ``OpenTelemetryMiddleware`` span; while we are instrumented that
middleware's work is ours (folded: our span replaces the SDK's, with the same name and attributes plus the
duration metric), so each request still gets one server span. On mcp 1.x the request handler
(``Server._handle_request``) is wrapped; it answers errors itself, so the answer is read as it is sent
(``RequestResponder.respond``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Link, SpanKind

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._protocol_layer import ProtocolRequest, RequestRun, start_request
from otel_agentmetrics._runs import acall
from otel_agentmetrics._telemetry import Telemetry

from ._common import carrier_of, describe, error_code, headers_carrier

_INVALID_PARAMS = "-32602"


def _open(
    telemetry: Telemetry,
    method: Any,
    params: Any,
    meta: Any,
    http_request: Any,
    request_id: Any,
    protocol_version: Any,
) -> RequestRun | None:
    if not isinstance(method, str):
        return None
    request = describe(SpanKind.SERVER, method, params)
    attributes = request.attributes
    if request_id is not None:
        attributes[sc.JSONRPC_REQUEST_ID] = str(request_id)
    if isinstance(protocol_version, str):
        attributes[sc.MCP_PROTOCOL_VERSION] = protocol_version
    if http_request is not None and getattr(http_request, "headers", None) is not None:
        attributes[sc.NETWORK_TRANSPORT] = "tcp"
        session_id = http_request.headers.get("mcp-session-id")
        if isinstance(session_id, str):
            attributes[sc.MCP_SESSION_ID] = session_id
    carrier = carrier_of(meta) or headers_carrier(http_request)
    parent = extract(carrier) if carrier else None
    if parent is not None:
        if not trace.get_current_span(parent).get_span_context().is_valid:
            parent = None
        else:
            request.parent = parent
            ambient = trace.get_current_span().get_span_context()
            if ambient.is_valid:  # the conventions: parent from _meta, a link to the ambient context
                request.links = [Link(ambient)]
    return start_request(telemetry, request)


def _handled(request: ProtocolRequest, handle: Callable[..., Any]) -> Callable[..., Any]:
    """``handle``, with the JSON-RPC error code of what it raises (invalid params for a validation error) noted."""

    async def handled(*args: Any, **kwargs: Any) -> Any:
        try:
            return await handle(*args, **kwargs)
        except BaseException as error:
            code = error_code(error)
            if (
                code is None
                and type(error).__name__ == "ValidationError"
                and type(error).__module__.startswith("pydantic")
            ):
                code = _INVALID_PARAMS
            if code is not None:
                request.status_code = code
            raise

    return handled


def _is_tool_error(result: Any) -> bool:
    root = getattr(result, "root", result)  # 1.x answers with a ServerResult around the CallToolResult
    if isinstance(root, dict):
        return root.get("isError") is True
    return bool(getattr(root, "is_error", None) or getattr(root, "isError", None))


# -- mcp 2.x: the SDK's OpenTelemetryMiddleware, folded into ours -------------------------------------------------


def middleware_wrapper(telemetry: Telemetry) -> Callable[..., Any]:
    """Wraps ``mcp.server._otel.OpenTelemetryMiddleware.__call__(ctx, call_next)``."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            ctx = args[0] if args else kwargs["ctx"]
            call_next = args[1] if len(args) > 1 else kwargs["call_next"]
            run = _open(
                telemetry,
                ctx.method,
                ctx.params,
                ctx.meta,
                getattr(ctx, "request", None),
                ctx.request_id,
                getattr(ctx, "protocol_version", None),
            )
        except Exception:
            internal_error("reading an MCP request (server)")
            run = None
        if run is None:
            return await wrapped(*args, **kwargs)
        output = _tool_output(run.request) if ctx.method == "tools/call" else None
        return await acall(run, _handled(run.request, call_next), (ctx,), {}, output)

    return traced


def _tool_output(request: ProtocolRequest) -> Callable[[Any], Any]:
    def read(result: Any) -> None:
        if _is_tool_error(result):
            request.error_type = sc.ERROR_TYPE_TOOL

    return read


# -- mcp 1.x: the low-level Server's request handler ----------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Handling:
    message: Any
    request: ProtocolRequest
    responded: bool = False


_serving: ContextVar[_Handling | None] = ContextVar("agentmetrics_mcp_serving", default=None)


def handle_request_wrapper(telemetry: Telemetry) -> Callable[..., Any]:
    """Wraps ``mcp.server.lowlevel.server.Server._handle_request(message, req, session, lifespan, raise)``."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            message = args[0] if args else kwargs["message"]
            req = args[1] if len(args) > 1 else kwargs["req"]
            session = args[2] if len(args) > 2 else kwargs.get("session")
            client_params = getattr(session, "client_params", None)
            run = _open(
                telemetry,
                getattr(req, "method", None),
                getattr(req, "params", None),
                getattr(message, "request_meta", None),
                getattr(getattr(message, "message_metadata", None), "request_context", None),
                getattr(message, "request_id", None),
                getattr(client_params, "protocolVersion", None),
            )
        except Exception:
            internal_error("reading an MCP request (server)")
            run = None
        if run is None:
            return await wrapped(*args, **kwargs)

        async def handle(*call_args: Any, **call_kwargs: Any) -> Any:
            token = _serving.set(_Handling(message, run.request))
            try:
                return await wrapped(*call_args, **call_kwargs)
            finally:
                _serving.reset(token)

        return await acall(run, _handled(run.request, handle), args, kwargs)

    return traced


def respond_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``mcp.shared.session.RequestResponder.respond(response)`` (1.x): the answer our server span ends with."""
    handling = _serving.get()
    if handling is not None and handling.message is instance and not handling.responded:
        try:
            handling.responded = True
            response = args[0] if args else kwargs.get("response")
            code = getattr(response, "code", None)
            if isinstance(code, int) and hasattr(response, "message"):  # ErrorData
                handling.request.status_code = str(code)
            elif _is_tool_error(response):
                handling.request.error_type = sc.ERROR_TYPE_TOOL
        except Exception:
            internal_error("reading an MCP server's answer")
    return wrapped(*args, **kwargs)
