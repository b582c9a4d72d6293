"""What the MCP client and server sides share: reading a request, the span name and attributes, the metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._telemetry import Telemetry

_TARGETS = {"tools/call": sc.TOOL_NAME, "prompts/get": sc.PROMPT_NAME}
"""Methods whose ``params.name`` is the span's low-cardinality target, and the attribute it goes in."""

_URI_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})

PROPAGATION_KEYS = ("traceparent", "tracestate", "baggage")


class MCPInstruments:
    """``mcp.client.operation.duration`` and ``mcp.server.operation.duration`` of one :class:`Telemetry`."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.client = telemetry.meter.create_histogram(
            sc.METRIC_MCP_CLIENT_DURATION,
            unit="s",
            description="Duration of MCP requests as seen by the client.",
            explicit_bucket_boundaries_advisory=sc.MCP_DURATION_BUCKETS,
        )
        self.server = telemetry.meter.create_histogram(
            sc.METRIC_MCP_SERVER_DURATION,
            unit="s",
            description="Duration of MCP requests as handled by the server.",
            explicit_bucket_boundaries_advisory=sc.MCP_DURATION_BUCKETS,
        )


def instruments(telemetry: Telemetry) -> MCPInstruments:
    return telemetry.instruments(MCPInstruments)


def field(value: Any, name: str) -> Any:
    """``value[name]`` for a mapping, else the attribute (requests are models in 1.x, dicts in 2.x's server)."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def describe(method: str, params: Any) -> tuple[str, str | None, dict[str, Any]]:
    """``(span name, target, attributes)`` of a request by method and params."""
    attributes: dict[str, Any] = {sc.MCP_METHOD_NAME: method}
    target = None
    target_key = _TARGETS.get(method)
    if target_key is not None:
        name = field(params, "name")
        if isinstance(name, str):
            target = name
            attributes[target_key] = name
        if method == "tools/call":
            attributes[sc.OPERATION_NAME] = sc.OP_EXECUTE_TOOL
    elif method in _URI_METHODS:
        uri = field(params, "uri")
        if uri is not None:
            attributes[sc.MCP_RESOURCE_URI] = str(uri)
    return (f"{method} {target}" if target else method), target, attributes


METRIC_KEYS = (
    sc.MCP_METHOD_NAME,
    sc.TOOL_NAME,
    sc.PROMPT_NAME,
    sc.NETWORK_TRANSPORT,
    sc.MCP_PROTOCOL_VERSION,
    sc.RPC_RESPONSE_STATUS_CODE,
)
"""Span attributes the duration metrics carry (the conventions' list, without the unbounded ones)."""


def metric_attributes(attributes: Mapping[str, Any], error_type: str | None) -> dict[str, Any]:
    out = {key: attributes[key] for key in METRIC_KEYS if attributes.get(key) is not None}
    if error_type is not None:
        out[sc.ERROR_TYPE] = error_type
    return out


def carrier_of(meta: Any) -> dict[str, str]:
    """The trace-context entries of a request's ``_meta`` (a dict in 2.x, a model with extra fields in 1.x)."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        extra = getattr(meta, "model_extra", None) or getattr(meta, "__pydantic_extra__", None)
        meta = extra if isinstance(extra, Mapping) else {}
    return {key: value for key in PROPAGATION_KEYS if isinstance(value := meta.get(key), str)}


def headers_carrier(request: Any) -> dict[str, str]:
    """The trace-context headers of the HTTP request that carried an MCP message (streamable HTTP, SSE)."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return {}
    return {key: value for key in PROPAGATION_KEYS if isinstance(value := headers.get(key), str)}
