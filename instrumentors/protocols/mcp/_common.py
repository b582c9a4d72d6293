"""What the MCP client and server sides share: reading a request into the core's record, and the trace context
of a request's ``_meta`` or HTTP headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._protocol_layer import MCP, MCP_TARGETS, ProtocolRequest, trace_carrier

_URI_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})


def field(value: Any, name: str) -> Any:
    """``value[name]`` for a mapping, else the attribute (requests are models in 1.x, dicts in 2.x's server)."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def describe(side: SpanKind, method: str, params: Any) -> ProtocolRequest:
    """The record of a request by method and params: its target (the tool or prompt), its resource."""
    request = ProtocolRequest(MCP, side, method)
    if method in MCP_TARGETS:
        name = field(params, "name")
        if isinstance(name, str):
            request.target = name
        if method == "tools/call":
            request.operation = sc.OP_EXECUTE_TOOL
            request.tool_arguments = field(params, "arguments")
    elif method in _URI_METHODS:
        uri = field(params, "uri")
        if uri is not None:
            request.attributes[sc.MCP_RESOURCE_URI] = str(uri)
    return request


def error_code(error: BaseException) -> str | None:
    """The JSON-RPC error code an ``McpError``/``MCPError`` carries, as a string."""
    code = getattr(getattr(error, "error", None), "code", None)
    return str(code) if isinstance(code, int) else None


def carrier_of(meta: Any) -> dict[str, str]:
    """The trace-context entries of a request's ``_meta`` (a dict in 2.x, a model with extra fields in 1.x)."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        extra = getattr(meta, "model_extra", None) or getattr(meta, "__pydantic_extra__", None)
        meta = extra if isinstance(extra, Mapping) else {}
    return trace_carrier(meta)


def headers_carrier(request: Any) -> dict[str, str]:
    """The trace-context headers of the HTTP request that carried an MCP message (streamable HTTP, SSE)."""
    headers = getattr(request, "headers", None)
    return {} if headers is None else trace_carrier(headers)
