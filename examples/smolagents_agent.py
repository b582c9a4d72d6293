"""A smolagents agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics "smolagents[openai]"
    python examples/smolagents_agent.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from smolagents import OpenAIServerModel, ToolCallingAgent, tool  # noqa: E402  (instrument() first)

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city to look up.
    """
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        where = {"api_base": server.openai_url, "api_key": "stand-in"} if server else {}
        model = OpenAIServerModel("gpt-4o-mini", **where)
        agent = ToolCallingAgent(tools=[get_weather], model=model, name="forecaster", verbosity_level=0)
        print(agent.run("Is it warm in Lisbon?"))


if __name__ == "__main__":
    main()
