"""A Pydantic AI agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics "pydantic-ai-slim[openai]"
    python examples/pydantic_ai_agent.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from pydantic_ai import Agent  # noqa: E402  (instrument() first, then the libraries)
from pydantic_ai.models.openai import OpenAIChatModel  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        provider = OpenAIProvider(base_url=server.openai_url, api_key="stand-in") if server else OpenAIProvider()
        agent = Agent(OpenAIChatModel("gpt-4o-mini", provider=provider), name="forecaster", tools=[get_weather])
        print(agent.run_sync("Is it warm in Lisbon?", conversation_id="c-1").output)


if __name__ == "__main__":
    main()
