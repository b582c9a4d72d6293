"""A LlamaIndex ``FunctionAgent`` traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool
calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics llama-index-core llama-index-llms-openai   # the latter pins openai<3
    python examples/llamaindex_agent.py && agentmetrics report
"""

from __future__ import annotations

import asyncio
import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from llama_index.core.agent.workflow import FunctionAgent  # noqa: E402  (instrument() first, then the libraries)
from llama_index.llms.openai import OpenAI  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


async def ask(api_base: str | None) -> str:
    llm = OpenAI(
        model="gpt-4o-mini",
        api_base=api_base,
        api_key="stand-in" if api_base else None,
        additional_kwargs={"stream_options": {"include_usage": True}},  # the agent streams: ask for usage
    )
    agent = FunctionAgent(tools=[get_weather], llm=llm, name="forecaster")
    return str(await agent.run(user_msg="Is it warm in Lisbon?"))


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        print(asyncio.run(ask(server.openai_url if server else None)))


if __name__ == "__main__":
    main()
