"""An agent's tool served by an MCP server in another process: one trace through both, the server's model call
and its cost included.

    pip install 'otel-agentmetrics[openai]' mcp
    OPENAI_API_KEY=sk-... python examples/mcp_two_process.py

This file is both halves. Run as above, it is the agent: an MCP client that starts the same file with
``--server`` over stdio and calls its ``advise`` tool. The server's tool asks a model. Both processes call
``instrument()``; the client's ``tools/call advise`` span (the tool run) carries the trace context to the server in
the request's ``params._meta``, so the server's ``tools/call advise`` span, and the model call under it, sit in the
agent's trace. The instrumented client passes its ``OTEL_*``/``AGENTMETRICS_*`` settings to the server it starts,
so both write to the same local store (and export to the same OTLP endpoint, if one is set): ``agentmetrics
report`` shows the remote model call and its cost. Anything else the server needs (the API key) goes in
``StdioServerParameters(env=...)``: the stdio client passes only a short allow-list of variables.
"""

import asyncio
import os
import sys

import otel_agentmetrics


def serve() -> None:
    otel_agentmetrics.instrument(service_name="travel-mcp-server")
    import openai

    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
    except ImportError:
        from mcp.server.fastmcp import FastMCP as Server  # mcp 1.x

    server = Server("travel")

    @server.tool()
    def advise(city: str) -> str:
        """Whether a city is worth a visit in spring."""
        reply = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"Is {city} a good place to visit in spring?"}]
        )
        return reply.choices[0].message.content or ""

    server.run("stdio")


async def agent() -> None:
    otel_agentmetrics.instrument(service_name="travel-agent")
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    openai_settings = {k: v for k, v in os.environ.items() if k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    server = StdioServerParameters(command=sys.executable, args=[__file__, "--server"], env=openai_settings)
    with otel_agentmetrics.agent("travel-agent") as run:
        async with stdio_client(server) as streams, ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            result = await session.call_tool("advise", {"city": "Porto"})
    print(result.content[0].text)
    print(f"{run.tool_calls} tool call, {run.errors} errors; the model call it made is the server's")


if __name__ == "__main__":
    if "--server" in sys.argv:
        serve()
    else:
        asyncio.run(agent())
