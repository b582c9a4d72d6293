"""A LangGraph ReAct agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics langgraph langchain-openai
    python examples/langgraph_agent.py && agentmetrics report
"""

from __future__ import annotations

import os
import warnings
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from langchain_core.tools import tool  # noqa: E402  (instrument() first, then the libraries)
from langchain_openai import ChatOpenAI  # noqa: E402
from langgraph.prebuilt import create_react_agent  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402

# LangGraph 1.x points to ``langchain.agents.create_agent``; create_react_agent still works and needs no extra package.
warnings.filterwarnings("ignore", message="create_react_agent has been moved")


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        model = ChatOpenAI(
            model="gpt-4o-mini",
            base_url=server.openai_url if server else None,
            api_key="stand-in" if server else None,
        )
        graph = create_react_agent(model, [get_weather], name="forecaster")
        state = graph.invoke({"messages": [("user", "Is it warm in Lisbon?")]}, {"configurable": {"thread_id": "t-1"}})
    print(state["messages"][-1].content)


if __name__ == "__main__":
    main()
