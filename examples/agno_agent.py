"""An Agno agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics agno openai
    python examples/agno_agent.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from agno.agent import Agent  # noqa: E402  (instrument() first, then the libraries)
from agno.models.openai import OpenAIChat  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        where = {"base_url": server.openai_url, "api_key": "stand-in"} if server else {}
        agent = Agent(name="forecaster", model=OpenAIChat(id="gpt-4o-mini", **where), tools=[get_weather])
        print(agent.run("Is it warm in Lisbon?", session_id="s-1").content)


if __name__ == "__main__":
    main()
