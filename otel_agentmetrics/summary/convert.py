"""Which spans the store keeps, and the row each becomes.

Any instrumentation that follows the GenAI conventions works: model calls (any ``gen_ai.operation.name`` that is
not a tool or agent run, or an older span with only ``gen_ai.system``), ``execute_tool`` and ``invoke_agent``
spans, ``retrieval`` spans and the other GenAI operations of a store (``db.system.name`` beside
``gen_ai.operation.name``: writes, memory). Web-framework SERVER spans with an ``http.route`` are kept too, so the
summary can say which endpoint the calls of a trace served, and so are an MCP server's request spans, as its
endpoints (``MCP tools/call add``), and our A2A server's (``A2A SendMessage advisor``). Everything else (HTTP
client spans, plain database spans ...) is skipped.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from .. import semconv as sc
from .store import SpanRow

_MESSAGE_LIMIT = 500

# Older names some instrumentations still emit (OpenLLMetry, earlier conventions).
_LEGACY_INPUT_TOKENS = "gen_ai.usage.prompt_tokens"
_LEGACY_OUTPUT_TOKENS = "gen_ai.usage.completion_tokens"
_HTTP_ROUTE = "http.route"
_HTTP_STATUS = ("http.response.status_code", "http.status_code")


_SQLITE_INT_MAX = 2**63 - 1
_OUR_SCOPE = "otel_agentmetrics"  # the instrumentation scope of our spans (_telemetry.py)


def _int(value: Any) -> int | None:
    """A whole number SQLite can store (another instrumentation's span may carry anything), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -_SQLITE_INT_MAX <= number <= _SQLITE_INT_MAX else None


def _float(value: Any) -> float | None:
    """A finite number, else ``None``: an infinite cost or latency would poison every sum over it."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _mcp_route(span: ReadableSpan, attrs: Any) -> str | None:
    """An MCP server's handling of a request is the server's endpoint (``MCP tools/call add``), not a second run of
    the tool the client's span already counts; notifications are left out."""
    method = attrs.get(sc.MCP_METHOD_NAME)
    if span.kind != SpanKind.SERVER or not isinstance(method, str) or method.startswith("notifications/"):
        return None
    return f"MCP {span.name}"


def _a2a_route(span: ReadableSpan, attrs: Any) -> str | None:
    """An A2A server's handling of a request (``A2A SendMessage advisor``): the agent's run is the span under it.
    Only ours: other RPC instrumentations' SERVER spans carry ``rpc.method`` too."""
    if span.kind != SpanKind.SERVER or attrs.get(sc.RPC_METHOD) is None:
        return None
    scope = span.instrumentation_scope
    return f"A2A {span.name}" if scope is not None and scope.name == _OUR_SCOPE else None


def _kind(span: ReadableSpan, attrs: Any) -> str | None:
    if attrs.get(sc.MCP_METHOD_NAME) is not None and span.kind == SpanKind.SERVER:
        return "request" if _mcp_route(span, attrs) else None
    if _a2a_route(span, attrs) is not None:
        return "request"
    operation = attrs.get(sc.OPERATION_NAME)
    if operation == sc.OP_RETRIEVAL or (operation is not None and attrs.get(sc.DB_SYSTEM_NAME) is not None):
        return "retrieval"  # queries, and writes and memory operations of a store (never a model call)
    if operation == sc.OP_EXECUTE_TOOL:
        return "tool"
    if operation == sc.OP_INVOKE_AGENT:
        return "agent"
    if operation is not None:
        return None if str(operation).startswith("create_") else "model"
    if attrs.get(sc.SYSTEM) is not None and attrs.get(sc.REQUEST_MODEL) is not None:
        return "model"
    if span.kind == SpanKind.SERVER and attrs.get(_HTTP_ROUTE):
        return "request"
    return None


def _error(span: ReadableSpan, attrs: Any, kind: str) -> tuple[bool, str | None, str | None]:
    error_type = _str(attrs.get(sc.ERROR_TYPE))
    message = span.status.description
    failed = span.status.status_code == StatusCode.ERROR
    for event in span.events:
        if event.name == "exception" and event.attributes:
            error_type = error_type or _str(event.attributes.get("exception.type"))
            message = message or _str(event.attributes.get("exception.message"))
    if kind == "request":
        status = next((_int(attrs.get(k)) for k in _HTTP_STATUS if attrs.get(k) is not None), None)
        if status is not None and status >= 500:
            failed = True
            error_type = error_type or str(status)
    failed = failed or (error_type is not None and kind != "request")
    if message and failed:  # ours are masked already; a web framework's request span may not be
        from .._redact import mask_credentials

        message = mask_credentials(message)
    if message and len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return failed, (error_type or ("error" if failed else None)), (message if failed else None)


def to_row(span: ReadableSpan) -> SpanRow | None:
    """The row for a span the summary cares about, else ``None``."""
    attrs = span.attributes or {}
    kind = _kind(span, attrs)
    context = span.context
    if kind is None or context is None or span.start_time is None or span.end_time is None:
        return None
    failed, error_type, message = _error(span, attrs, kind)
    service = span.resource.attributes.get("service.name") if span.resource is not None else None
    parent = span.parent
    retrieval = kind == "retrieval"
    return SpanRow(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_id=format(parent.span_id, "016x") if parent is not None else None,
        kind=kind,
        name=span.name,
        start_ns=span.start_time,
        end_ns=span.end_time,
        duration_s=max(0, span.end_time - span.start_time) / 1e9,
        ok=0 if failed else 1,
        error_type=error_type,
        error_message=message,
        operation=_str(attrs.get(sc.OPERATION_NAME)),
        provider=_str(attrs.get(sc.PROVIDER_NAME) or attrs.get(sc.SYSTEM)),
        request_model=_str(attrs.get(sc.REQUEST_MODEL)),
        response_model=_str(attrs.get(sc.RESPONSE_MODEL)),
        tool_name=_str(attrs.get(sc.TOOL_NAME)),
        agent_name=_str(attrs.get(sc.AGENT_NAME)),
        route=_str(attrs.get(_HTTP_ROUTE)) or _mcp_route(span, attrs) or _a2a_route(span, attrs),
        input_tokens=_int(attrs.get(sc.USAGE_INPUT_TOKENS, attrs.get(_LEGACY_INPUT_TOKENS))),
        output_tokens=_int(attrs.get(sc.USAGE_OUTPUT_TOKENS, attrs.get(_LEGACY_OUTPUT_TOKENS))),
        cache_read_tokens=_int(attrs.get(sc.USAGE_CACHE_READ_INPUT_TOKENS)),
        cache_creation_tokens=_int(  # the latest name, or the v1.41.1 one (OTEL_SEMCONV_STABILITY_OPT_IN)
            attrs.get(sc.USAGE_CACHE_WRITE_INPUT_TOKENS, attrs.get(sc.USAGE_CACHE_CREATION_INPUT_TOKENS))
        ),
        reasoning_tokens=_int(attrs.get(sc.USAGE_REASONING_OUTPUT_TOKENS)),
        cost=_float(attrs.get(sc.USAGE_COST, attrs.get(sc.OPERATION_COST))) if kind == "model" else None,
        stream=1 if attrs.get(sc.REQUEST_STREAM) else 0,
        time_to_first_chunk=_float(attrs.get(sc.RESPONSE_TIME_TO_FIRST_CHUNK)),
        service=_str(service),
        db_system=_str(attrs.get(sc.DB_SYSTEM_NAME)) if retrieval else None,
        collection=_str(attrs.get(sc.DB_COLLECTION_NAME, attrs.get(sc.DATA_SOURCE_ID))) if retrieval else None,
        returned_rows=_int(attrs.get(sc.DB_RESPONSE_RETURNED_ROWS)) if retrieval else None,
        processing=_str(attrs.get(sc.PROCESSING)) if kind == "model" else None,
    )
