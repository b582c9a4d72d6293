"""An MCP server for the two-process tests: FastMCP (mcp 1.x) or MCPServer (mcp 2.x), over stdio or streamable HTTP.

    python tests/apps/mcp_server.py stdio|http|sse instrumented|plain

``instrumented`` calls ``instrument()``: OTLP only, configured by the ``OTEL_*`` environment (over stdio, the
environment an instrumented client passed on); with no endpoint there (a plain client's stdio server), it records
but exports nowhere. ``http`` (streamable HTTP, at ``/mcp``) and ``sse`` (at ``/sse``) listen on an ephemeral
loopback port, print ``port N`` and serve until SIGTERM, then exit normally so the final export runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator

transport, mode = sys.argv[1], sys.argv[2]
if mode == "instrumented":
    import otel_agentmetrics

    exporting = "OTEL_EXPORTER_OTLP_ENDPOINT" in os.environ
    otel_agentmetrics.instrument(otlp=exporting, store=False, service_name="mcp-server")

try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
except ImportError:
    from mcp.server.fastmcp import FastMCP as Server  # mcp 1.x

import otel_agentmetrics  # noqa: E402

server = Server("calculator")


@otel_agentmetrics.tool
def double(value: int) -> int:
    """The tool's own work, traced on the server: a child of the server's tools/call span."""
    return value * 2


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return double(a + b) // 2


@server.tool()
def divide(a: int, b: int) -> float:
    """Divide a by b."""
    if b == 0:
        raise ValueError("division by zero")
    return a / b


def main() -> None:
    if transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after shutting down, which would skip the exit-time export.
            yield

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = server.streamable_http_app() if transport == "http" else server.sse_app()
    web = Quiet(uvicorn.Config(app, log_level="warning", lifespan="on"))
    signal.signal(signal.SIGTERM, lambda *_: setattr(web, "should_exit", True))
    print(f"port {sock.getsockname()[1]}", flush=True)
    asyncio.run(web.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
