"""MCP (Model Context Protocol), both sides: a CLIENT span per request the ``mcp`` client sends, a SERVER span per
request a ``Server`` (FastMCP, ``MCPServer``) handles, and the trace context carried in ``params._meta`` so the
server's span sits under the client's in one trace. Spans and metrics follow the OpenTelemetry MCP conventions.

- ``tools/call`` on the client *is* the tool run (``execute_tool``, ``gen_ai.tool.type=extension``): one span,
  never two; a result with ``isError`` set is a failed run (``error.type=tool_error``). See ``_client``.
- mcp 2.x traces itself; its spans are handed off (client) or folded (server) into ours, so each request still
  has one span per side. mcp 1.x propagates nothing; we inject and extract ``params._meta`` ourselves.
- The stdio client starts its server with an allow-list of environment variables; an instrumented client adds
  the ``OTEL_*`` and ``AGENTMETRICS_*`` ones, so the server exports where the client does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from ._client import default_environment_wrapper, sdk_span_handoff, send_wrapper
from ._server import handle_request_wrapper, middleware_wrapper, respond_wrapper


class MCPInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``mcp`` client and server."""

    dependencies: Collection[str] = ("mcp >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # mcp 2.x: the client session's own methods; 1.x: the shared base session's (each absent from the other).
        yield "mcp.client.session", "ClientSession.send_request", send_wrapper(telemetry)
        yield "mcp.client.session", "ClientSession.send_notification", send_wrapper(telemetry, notification=True)
        yield "mcp.shared.session", "BaseSession.send_request", send_wrapper(telemetry)
        yield "mcp.shared.session", "BaseSession.send_notification", send_wrapper(telemetry, notification=True)
        yield "mcp.client.stdio", "get_default_environment", default_environment_wrapper
        # mcp 2.x: the SDK's own spans (absent from 1.x, so these patches do not apply there).
        yield "mcp.shared.jsonrpc_dispatcher", "otel_span", sdk_span_handoff
        yield "mcp.server._otel", "OpenTelemetryMiddleware.__call__", middleware_wrapper(telemetry)
        # mcp 1.x: the low-level server's request handler and its answer (absent from 2.x).
        yield "mcp.server.lowlevel.server", "Server._handle_request", handle_request_wrapper(telemetry)
        yield "mcp.shared.session", "RequestResponder.respond", respond_wrapper
