"""CrewAI through the real ``crewai`` package: a crew of one agent with one tool, whose native OpenAI provider calls
the real ``openai`` client against the local stand-in server.

Runs where CrewAI is installed (``bash tests/crewai-env.sh``: CrewAI pins openai<3, while the main environment
tests openai 3.x).
"""

from __future__ import annotations

import asyncio
import os

import pytest

# CrewAI would send its own usage telemetry to its servers: never from tests.
os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_DISABLE_TRACKING"] = "true"

if os.environ.get("CREWAI_TESTS_REQUIRED"):  # set by tests/crewai-env.sh (conftest.py clears AGENTMETRICS_* names)
    import crewai
else:
    crewai = pytest.importorskip("crewai", reason="CrewAI runs in its own environment: bash tests/crewai-env.sh")

from crewai.tools import tool  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.crewai import CrewAIInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, instrumented  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"


@tool("get_weather")
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


@tool("get_weather")
def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, CrewAIInstrumentor(), PRICER)


def weather_crew(llm: StandInServer, weather=get_weather, name: str = "weather desk"):
    model = crewai.LLM(model="openai/gpt-4o-mini", base_url=llm.openai_url, api_key="test")
    agent = crewai.Agent(
        role="forecaster", goal="Tell the weather", backstory="A weather bot", llm=model, tools=[weather]
    )
    task = crewai.Task(description="Is it warm in Lisbon?", expected_output="An answer", agent=agent)
    return crewai.Crew(agents=[agent], tasks=[task], name=name)


def check_crew_run(spans, errors: int = 0):
    (crew_span,) = by_name(spans, "invoke_agent weather desk")
    (agent_span,) = children(spans, crew_span)
    assert agent_span.name == "invoke_agent forecaster"
    assert agent_span.attributes["gen_ai.agent.description"] == "Tell the weather"
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    assert len(spans) == 5
    chats = [kids[0], kids[2]]
    (call_id,) = kids[0].attributes["agentmetrics.response.tool_call_ids"]
    assert kids[1].attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in kids[1].links] == [kids[0].context.span_id]
    assert_rollup(agent_span, chats, tool_calls=1, errors=errors)
    assert_rollup(crew_span, chats, tool_calls=1, errors=errors)
    return kids[1]


def test_a_crew_run_above_its_agents_task_model_and_tool_calls(traced, llm):
    assert str(weather_crew(llm).kickoff()) == ANSWER
    tool_span = check_crew_run(traced.finished())
    assert "error.type" not in tool_span.attributes


def test_a_failing_tool_crewai_hands_to_the_model(traced, llm):
    weather_crew(llm, broken_weather).kickoff()
    tool_span = check_crew_run(traced.finished(), errors=1)
    assert tool_span.attributes["error.type"] == "ConnectionError"


def test_kickoff_async_is_the_same_run(traced, llm):
    assert str(asyncio.run(weather_crew(llm).kickoff_async())) == ANSWER
    check_crew_run(traced.finished())


def test_an_unnamed_crew_inside_the_users_run_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        weather_crew(llm, name="crew").kickoff()
    spans = traced.finished()
    (support,) = by_name(spans, "invoke_agent support")
    (forecaster,) = children(spans, support)
    assert forecaster.name == "invoke_agent forecaster"
    assert (run.model_calls, run.tool_calls) == (2, 1)
