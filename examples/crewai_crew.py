"""A CrewAI crew traced by ``instrument()`` alone: the crew's and its agent's ``invoke_agent`` spans above the model
and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics crewai   # CrewAI pins openai<3
    python examples/crewai_crew.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")  # offline: no usage reports to CrewAI's servers
agentmetrics.instrument()

from crewai import LLM, Agent, Crew, Task  # noqa: E402  (instrument() first, then the libraries)
from crewai.tools import tool  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


@tool("get_weather")
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        options = {"base_url": server.openai_url, "api_key": "stand-in"} if server else {}
        forecaster = Agent(
            role="forecaster",
            goal="Tell the weather",
            backstory="A weather bot",
            llm=LLM(model="openai/gpt-4o-mini", **options),
            tools=[get_weather],
        )
        task = Task(description="Is it warm in Lisbon?", expected_output="An answer", agent=forecaster)
        print(Crew(agents=[forecaster], tasks=[task], name="weather desk").kickoff())


if __name__ == "__main__":
    main()
