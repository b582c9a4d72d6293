"""An AutoGen AgentChat team traced by ``instrument()`` alone: the team's run above its agent's turn, above the
agent's model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics "autogen-agentchat" "autogen-ext[openai]"
    python examples/autogen_team.py && agentmetrics report
"""

from __future__ import annotations

import asyncio
import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from autogen_agentchat.agents import AssistantAgent  # noqa: E402  (instrument() first, then the libraries)
from autogen_agentchat.teams import RoundRobinGroupChat  # noqa: E402
from autogen_ext.models.openai import OpenAIChatCompletionClient  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


async def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


async def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        options = {"base_url": server.openai_url, "api_key": "stand-in"} if server else {}
        client = OpenAIChatCompletionClient(model="gpt-4o-mini", **options)
        agent = AssistantAgent("forecaster", model_client=client, tools=[get_weather], reflect_on_tool_use=True)
        team = RoundRobinGroupChat([agent], max_turns=1, name="weather_desk")
        print((await team.run(task="Is it warm in Lisbon?")).messages[-1].content)


if __name__ == "__main__":
    asyncio.run(main())
