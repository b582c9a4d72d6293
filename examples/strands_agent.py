"""A Strands Agents agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics "strands-agents[openai]"
    python examples/strands_agent.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from strands import Agent, tool  # noqa: E402  (instrument() first, then the libraries)
from strands.models.openai import OpenAIModel  # noqa: E402

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
        client_args = {"base_url": server.openai_url, "api_key": "stand-in"} if server else {}
        model = OpenAIModel(client_args=client_args, model_id="gpt-4o-mini")
        agent = Agent(model=model, tools=[get_weather], name="forecaster", callback_handler=None)
        print(str(agent("Is it warm in Lisbon?")).strip())


if __name__ == "__main__":
    main()
