"""Requests between processes (MCP, A2A): the neutral record a protocol instrumentor fills, and what the core
makes of it: the request's span and one point on its protocol's duration histogram.

An instrumentor in ``instrumentors/protocols/`` reads its library's request into a :class:`ProtocolRequest`
(protocol, side, method, target, the attributes it read, the parent context the peer sent) and opens it with
:func:`start_request`; the run it gets back ends like any other (``acall``, ``_aiterate``). While the request runs
the instrumentor writes what the answer said into the same record: ``status_code`` (the protocol's error code),
``error_type`` (a failure answered as a result: ``tool_error``, ``task_failed``), attributes. The core alone turns
the record into:

- the span: CLIENT or SERVER, named ``{name or method} {target}``, with the protocol's method and target attributes,
  ``gen_ai.operation.name`` and the instrumentor's attributes; those added or changed while it ran are set at the
  end. ``None`` means not known and is never recorded;
- ``error.type``: the status code, else the exception's class, else the record's ``error_type``; the status code
  also as ``rpc.response.status_code``;
- a point on the side's duration histogram (``mcp.client.operation.duration``, ``agentmetrics.a2a.server.duration``,
  ...) with the protocol's bounded attributes and ``error.type``.

A client request whose operation is ``execute_tool`` (MCP's ``tools/call``) *is* the tool run: one span, a
:class:`~otel_agentmetrics.tools.ToolRun` that carries the request's attributes. When a framework already runs that
tool one layer up, that run's span gets the request's attributes instead of a second span.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind

from . import semconv as sc
from ._runs import Run, SpanRun
from ._telemetry import Telemetry
from .tools import ToolRun, current_tool

MCP = "mcp"
A2A = "a2a"

MCP_TARGETS: Mapping[str, str] = {"tools/call": sc.TOOL_NAME, "prompts/get": sc.PROMPT_NAME}
"""MCP methods whose ``params.name`` is the request's target, and the attribute it goes in."""

PROPAGATION_KEYS = ("traceparent", "tracestate", "baggage")


def trace_carrier(entries: Mapping[str, Any]) -> dict[str, str]:
    """The trace-context entries of a peer's metadata (HTTP headers, MCP ``_meta``), for ``propagate.extract``."""
    return {key: value for key in PROPAGATION_KEYS if isinstance(value := entries.get(key), str)}


@dataclass(slots=True, eq=False)
class ProtocolRequest:
    """One request, sent (``side=CLIENT``) or handled (``SERVER``), in protocol-neutral terms."""

    protocol: str
    """:data:`MCP` or :data:`A2A`: which method attribute, target attribute and histograms."""
    side: SpanKind
    method: str
    """The protocol's method name (``tools/call``, ``SendMessage``)."""
    target: str | None = None
    """What the request is for, low cardinality: the tool or prompt (MCP), the agent (A2A)."""
    name: str | None = None
    """What the span name starts with, when not the method (``invoke_agent`` for an A2A message send)."""
    operation: str | None = None
    """``gen_ai.operation.name`` (``execute_tool``, ``invoke_agent``)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """What else the instrumentor read, by attribute name; from :func:`start_request` on, every attribute."""
    tool_arguments: Any = None
    """A tool run's arguments (recorded only with content capture on)."""
    parent: Context | None = None
    """The context the peer sent; ``None``: the current one."""
    links: list[Link] | None = None
    # What the answer said, written by the instrumentor while the request runs.
    status_code: str | None = None
    error_type: str | None = None

    @property
    def span_name(self) -> str:
        head = self.name or self.method
        return f"{head} {self.target}" if self.target else head


@dataclass(frozen=True, eq=False)
class _Protocol:
    method_key: str
    target_keys: Mapping[str, str]
    target_key: str | None  # for methods not in target_keys
    metric_keys: tuple[str, ...]
    """The attributes the histograms carry (bounded ones only), besides ``error.type``."""
    client: tuple[str, str]  # histogram name, description
    server: tuple[str, str]

    def __call__(self, telemetry: Telemetry) -> dict[SpanKind, Any]:
        """The protocol's histograms in ``telemetry``, created on first use (see ``Telemetry.instruments``)."""
        return {
            side: telemetry.meter.create_histogram(
                name, unit="s", description=description, explicit_bucket_boundaries_advisory=sc.MCP_DURATION_BUCKETS
            )
            for side, (name, description) in ((SpanKind.CLIENT, self.client), (SpanKind.SERVER, self.server))
        }


_PROTOCOLS = {
    MCP: _Protocol(
        method_key=sc.MCP_METHOD_NAME,
        target_keys=MCP_TARGETS,
        target_key=None,
        metric_keys=(
            sc.MCP_METHOD_NAME,
            sc.TOOL_NAME,
            sc.PROMPT_NAME,
            sc.NETWORK_TRANSPORT,
            sc.MCP_PROTOCOL_VERSION,
            sc.RPC_RESPONSE_STATUS_CODE,
        ),
        client=(sc.METRIC_MCP_CLIENT_DURATION, "Duration of MCP requests as seen by the client."),
        server=(sc.METRIC_MCP_SERVER_DURATION, "Duration of MCP requests as handled by the server."),
    ),
    A2A: _Protocol(
        method_key=sc.RPC_METHOD,
        target_keys={},
        target_key=sc.AGENT_NAME,
        metric_keys=(sc.RPC_METHOD, sc.AGENT_NAME),
        client=(
            sc.METRIC_A2A_CLIENT_DURATION,
            "Duration of A2A requests as seen by the client, by method and remote agent.",
        ),
        server=(
            sc.METRIC_A2A_SERVER_DURATION,
            "Duration of A2A requests as handled by the server, by method and agent.",
        ),
    ),
}
"""Each protocol's method and target attributes, and its histograms (the conventions' for MCP; ours for A2A, which
has none yet) with the attributes they carry."""

_current: ContextVar[ProtocolRequest | None] = ContextVar("agentmetrics_protocol_request", default=None)


def current_request() -> ProtocolRequest | None:
    """The request whose handling (or sending) is running now, if any; tasks started inside inherit it."""
    return _current.get()


def start_request(telemetry: Telemetry, request: ProtocolRequest) -> RequestRun:
    """Open ``request``: its span (or the tool run's, or the one a framework already runs) and its clock."""
    protocol = _PROTOCOLS[request.protocol]
    own = {protocol.method_key: request.method}
    target_key = protocol.target_keys.get(request.method, protocol.target_key)
    if target_key is not None and request.target is not None:
        own[target_key] = request.target
    if request.operation is not None:
        own[sc.OPERATION_NAME] = request.operation
    request.attributes = {key: value for key, value in {**own, **request.attributes}.items() if value is not None}
    if request.side is SpanKind.CLIENT and request.operation == sc.OP_EXECUTE_TOOL and request.target is not None:
        outer = current_tool()
        if outer is not None and outer.name == request.target and not outer.ended:
            return _Borrowed(telemetry, request, outer)
        return _ToolRequest(telemetry, request, request.target)
    return _Request(telemetry, request)


class RequestRun(Run):
    """A request in flight: made current by :meth:`activate` (with :func:`current_request`), ended once."""

    request: ProtocolRequest
    span: Span
    _started: dict[str, Any]

    @contextmanager
    def activate(self) -> Iterator[None]:
        token = _current.set(self.request)
        try:
            with super().activate():
                yield
        finally:
            _current.reset(token)

    def _error_type(self, raised: str | None) -> str | None:
        """``error.type``: the answer's status code (an attribute too), else what was raised, else what the
        answer said."""
        request = self.request
        if request.status_code is not None:
            request.attributes[sc.RPC_RESPONSE_STATUS_CODE] = request.status_code
            return request.status_code
        return raised if raised is not None else request.error_type

    def _set_changed(self) -> None:
        """The attributes added or changed since the span started, on the span."""
        started = self._started
        changed = {k: v for k, v in self.request.attributes.items() if v is not None and started.get(k) != v}
        if changed:
            self.span.set_attributes(changed)

    def _record(self, telemetry: Telemetry, duration: float, error_type: str | None) -> None:
        request = self.request
        protocol = _PROTOCOLS[request.protocol]
        found = request.attributes
        attributes = {key: found[key] for key in protocol.metric_keys if found.get(key) is not None}
        if error_type is not None:
            attributes[sc.ERROR_TYPE] = error_type
        telemetry.instruments(protocol)[request.side].record(duration, attributes)


class _Request(RequestRun, SpanRun):
    """A request with a span of its own."""

    def __init__(self, telemetry: Telemetry, request: ProtocolRequest) -> None:
        self.request, self._started = request, dict(request.attributes)
        name, attributes = request.span_name, dict(request.attributes)
        super().__init__(telemetry, name, attributes, request.links, kind=request.side, context=request.parent)

    def finish(self, duration: float, result: Any) -> None:
        self.error_type = self._error_type(self.error_type)
        self._set_changed()
        self._record(self.telemetry, duration, self.error_type)


class _ToolRequest(RequestRun, ToolRun):
    """A client request that runs a tool (MCP's ``tools/call``): the tool run, named and kinded as the request."""

    def __init__(self, telemetry: Telemetry, request: ProtocolRequest, tool: str) -> None:
        self.request, self._started = request, dict(request.attributes)
        arguments = request.tool_arguments if telemetry.capture.enabled else None
        extension, name = sc.TOOL_TYPE_EXTENSION, request.span_name
        super().__init__(
            telemetry,
            tool,
            None,
            None,
            arguments,
            extension,
            span_name=name,
            kind=SpanKind.CLIENT,
            extra=request.attributes,
        )

    def finish(self, duration: float, result: Any) -> None:
        self.error_type = self._error_type(self.error_type)  # before the tool metrics: they carry it too
        self._set_changed()
        super().finish(duration, result)
        self._record(self.telemetry, duration, self.error_type)


class _Borrowed(RequestRun):
    """A tool request whose tool a framework already runs one layer up: the request's attributes go on that run's
    span, the run's error is the request's, and the request keeps its own clock for the histogram."""

    def __init__(self, telemetry: Telemetry, request: ProtocolRequest, outer: ToolRun) -> None:
        self.telemetry, self.request, self.outer, self.span = telemetry, request, outer, outer.span
        self._started = dict(request.attributes)
        self._ended = False
        self._start = time.perf_counter()
        outer.span.set_attributes(request.attributes)

    def end(self, result: Any = None) -> None:
        if self.request.error_type is not None:
            self.outer.report_error(self.request.error_type)
        self._close(self.outer.error_type)

    def fail(self, error: BaseException) -> None:
        code = self.request.status_code
        if code is not None:  # on the span; the histogram's point carries it as error.type only
            self.span.set_attribute(sc.RPC_RESPONSE_STATUS_CODE, code)
        self._close(code or type(error).__qualname__)

    def _close(self, error_type: str | None) -> None:
        if not self._ended:
            self._ended = True
            self._set_changed()
            self._record(self.telemetry, time.perf_counter() - self._start, error_type)
