"""A Haystack agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics haystack-ai
    python examples/haystack_agent.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from haystack import Pipeline  # noqa: E402  (instrument() first, then the libraries)
from haystack.components.agents import Agent  # noqa: E402
from haystack.components.generators.chat import OpenAIChatGenerator  # noqa: E402
from haystack.dataclasses import ChatMessage  # noqa: E402
from haystack.tools import create_tool_from_function  # noqa: E402
from haystack.utils import Secret  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        options = {"api_key": Secret.from_token("stand-in"), "api_base_url": server.openai_url} if server else {}
        generator = OpenAIChatGenerator(model="gpt-4o-mini", **options)
        pipeline = Pipeline()  # the agent's name in its pipeline is the agent run's name
        pipeline.add_component(
            "forecaster", Agent(chat_generator=generator, tools=[create_tool_from_function(get_weather)])
        )
        result = pipeline.run({"forecaster": {"messages": [ChatMessage.from_user("Is it warm in Lisbon?")]}})
        print(result["forecaster"]["last_message"].text)


if __name__ == "__main__":
    main()
