"""An MCP client for the two-process tests: runs the server app over stdio, or connects to it over HTTP.

    python tests/apps/mcp_client.py stdio|http|sse instrumented|plain '[["LABEL", "SERVER_MODE or URL"], ...]'

For each server in turn (over stdio: a server app it starts in that mode; over HTTP or SSE: the URL): lists the tools,
calls ``add(2, 3)`` and ``divide(1, 0)`` (a tool error), inside an agent run ``mcp-user-LABEL`` when
instrumented. Prints one JSON line: per label, what each call returned, as the caller sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

transport, mode, targets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if mode == "instrumented":
    import otel_agentmetrics

    otel_agentmetrics.instrument(otlp=True, store=False, service_name="mcp-client")

from mcp import ClientSession, StdioServerParameters  # noqa: E402

HTTP_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _seen(result: Any) -> dict[str, Any]:
    structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
    is_error = getattr(result, "is_error", None)
    if is_error is None:
        is_error = result.isError
    return {
        "type": type(result).__name__,
        "is_error": is_error,
        "structured": structured,
        "text": [getattr(part, "text", None) for part in result.content],
    }


@contextlib.asynccontextmanager
async def connect(target: str) -> Any:
    if transport == "stdio":
        from mcp.client.stdio import stdio_client

        server = Path(__file__).with_name("mcp_server.py")
        params = StdioServerParameters(command=sys.executable, args=[str(server), "stdio", target])
        async with stdio_client(params) as streams:
            yield streams[0], streams[1]
    elif transport == "sse":
        from mcp.client.sse import sse_client

        async with sse_client(target, headers={"traceparent": HTTP_TRACEPARENT}) as streams:
            yield streams[0], streams[1]
    else:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        # What an HTTP-level tracer in front of the client would send: a server without a parent in _meta (a
        # plain client's requests) takes this one; an instrumented client's _meta wins over it.
        http = create_mcp_http_client(headers={"traceparent": HTTP_TRACEPARENT})
        async with http, streamable_http_client(target, http_client=http) as streams:
            yield streams[0], streams[1]


async def session_calls(target: str) -> dict[str, Any]:
    async with connect(target) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        added = await session.call_tool("add", {"a": 2, "b": 3})
        failed = await session.call_tool("divide", {"a": 1, "b": 0})
    return {"tools": sorted(tool.name for tool in tools.tools), "add": _seen(added), "divide": _seen(failed)}


async def main() -> None:
    seen = {}
    for label, target in targets:
        if mode == "instrumented":
            with otel_agentmetrics.agent(f"mcp-user-{label}"):
                seen[label] = await session_calls(target)
        else:
            seen[label] = await session_calls(target)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
