"""A Claude Agent SDK agent traced by ``instrument()`` alone: the Claude Code CLI runs the loop in a subprocess,
and its run, model requests and tool calls are read from the SDK's messages.

Runs offline against the bundled stand-in of the Anthropic API unless ``ANTHROPIC_API_KEY`` is set:

    pip install otel-agentmetrics claude-agent-sdk
    python examples/claude_agent.py && agentmetrics report
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from contextlib import nullcontext
from typing import Any

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, create_sdk_mcp_server, query, tool  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


@tool("get_weather", "Current weather for a city", {"city": str})
async def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": f"22 degrees and sunny in {args['city']}"}]}


async def main() -> None:
    offline = not os.environ.get("ANTHROPIC_API_KEY")
    with (
        StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server,
        tempfile.TemporaryDirectory() as home,
    ):
        env = {}
        if server is not None:  # the CLI reads these; a fresh HOME keeps your own settings and login out of it
            env = {"ANTHROPIC_BASE_URL": server.anthropic_url, "ANTHROPIC_API_KEY": "stand-in", "HOME": home,
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}  # fmt: skip
        options = ClaudeAgentOptions(
            model="claude-3-5-haiku-20241022",
            tools=[],  # only our tool, none of the CLI's own
            mcp_servers={"weather": create_sdk_mcp_server("weather", tools=[get_weather])},
            allowed_tools=["mcp__weather__get_weather"],
            env=env,
            setting_sources=[],
            max_turns=4,
        )
        async for message in query(prompt="Is it warm in Lisbon?", options=options):
            if isinstance(message, ResultMessage):
                print(message.result)


if __name__ == "__main__":
    asyncio.run(main())
