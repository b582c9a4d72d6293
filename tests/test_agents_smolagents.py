"""smolagents through the real ``smolagents`` package: a ``ToolCallingAgent`` with one tool whose
``OpenAIServerModel`` calls the real ``openai`` client against the local stand-in server (which ends a run by
calling smolagents' ``final_answer`` tool), plain, streamed, failing, as a managed agent, and a ``CodeAgent``'s
tool called from code."""

from __future__ import annotations

import pytest

smolagents = pytest.importorskip("smolagents")

from smolagents import OpenAIServerModel, Tool, ToolCallingAgent, tool  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo import server as stand_in  # noqa: E402
from otel_agentmetrics.instrumentors.agents.smolagents import SmolagentsInstrumentor  # noqa: E402

from .scope_kit import (  # noqa: E402
    PerMillionPricer,
    assert_rollup,
    by_name,
    check_tool_loop,
    children,
    instrumented,
    only_agent_run,
    scoped_telemetry,
)

PRICER = PerMillionPricer(0.15, 0.60)
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"
STEPS = ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]  # final_answer: the run's end


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city to look up.
    """
    return f"22 degrees in {city}"


class BrokenWeather(Tool):
    name = "get_weather"
    description = "Current weather for a city."
    inputs = {"city": {"type": "string", "description": "the city to look up."}}
    output_type = "string"

    def forward(self, city: str) -> str:
        raise ConnectionError("weather service down")


@pytest.fixture(scope="module")
def llm():
    with stand_in.StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, SmolagentsInstrumentor(), PRICER)


def model(llm: stand_in.StandInServer) -> OpenAIServerModel:
    return OpenAIServerModel("gpt-4o-mini", api_base=llm.openai_url, api_key="test")


def forecaster(llm: stand_in.StandInServer, weather=get_weather, name: str | None = "forecaster") -> ToolCallingAgent:
    return ToolCallingAgent(
        tools=[weather], model=model(llm), name=name, description="Tells the weather", max_steps=3, verbosity_level=0
    )


def check_agent_run(spans, agent_span, errors: int = 0):
    assert agent_span.attributes["gen_ai.agent.description"] == "Tells the weather"
    return check_tool_loop(spans, agent_span, STEPS, errors)


def only_run(spans):
    return only_agent_run(spans, "invoke_agent forecaster", 4)


def test_an_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert forecaster(llm).run("Is it warm in Lisbon?") == ANSWER
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans))
    assert "error.type" not in tool_span.attributes
    assert tool_span.attributes["gen_ai.tool.description"].startswith("Current weather for a city.")


def test_a_failing_tool_smolagents_hands_to_the_model(traced, llm):
    answer = forecaster(llm, BrokenWeather()).run("Is it warm in Lisbon?")
    assert "ConnectionError: weather service down" in answer
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans), errors=1)
    assert tool_span.attributes["error.type"] == "ConnectionError"  # not smolagents' AgentToolExecutionError


def test_a_streamed_run_ends_with_its_stream(traced, llm):
    steps = forecaster(llm).run("Is it warm in Lisbon?", stream=True)
    assert traced.finished() == []  # nothing opened before the caller iterates
    assert list(steps)[-1].output == ANSWER
    spans = traced.finished()
    check_agent_run(spans, only_run(spans))


def test_a_managed_agent_runs_inside_its_managers_tool_call(traced, llm, monkeypatch):
    # The stand-in model fills a tool's arguments; this one is the task the manager hands its managed agent.
    monkeypatch.setitem(stand_in.TOOL_ARGUMENTS, "forecaster", {"task": "Is it warm in Lisbon?"})
    manager = ToolCallingAgent(
        tools=[], model=model(llm), managed_agents=[forecaster(llm)], name="desk", max_steps=3, verbosity_level=0
    )
    assert manager.run("Is it warm in Lisbon?").startswith("Here is what I found: ")
    spans = traced.finished()
    (desk,) = by_name(spans, "invoke_agent desk")
    kids = children(spans, desk)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool forecaster", "chat gpt-4o-mini"]
    (member,) = children(spans, kids[1])
    assert member.name == "invoke_agent forecaster"
    check_agent_run(spans, member)
    assert len(spans) == 8
    assert_rollup(desk, by_name(spans, "chat gpt-4o-mini"), tool_calls=2, errors=0)


def test_an_unnamed_agent_inside_the_users_run_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        forecaster(llm, name=None).run("Is it warm in Lisbon?")
    spans = traced.finished()
    (support,) = by_name(spans, "invoke_agent support")
    assert [s.name for s in children(spans, support)] == STEPS
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_a_tool_called_from_code_is_a_tool_run(traced):
    # What a CodeAgent's generated code does: call the tool object (no model involved, no tool-call id).
    with agentmetrics.agent("coder"):
        assert get_weather(city="Lisbon") == "22 degrees in Lisbon"
    spans = traced.finished()
    (tool_span,) = by_name(spans, "execute_tool get_weather")
    assert "gen_ai.tool.call.id" not in tool_span.attributes
    assert tool_span.parent.span_id == by_name(spans, "invoke_agent coder")[0].context.span_id


def test_uninstrument_restores_smolagents(otel):
    from smolagents import agents, tools

    originals = (agents.MultiStepAgent._run_stream, agents.ToolCallingAgent.execute_tool_call, tools.Tool.__call__)
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentor = SmolagentsInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert agents.MultiStepAgent._run_stream is not originals[0]
        instrumentor.uninstrument()
    restored = (agents.MultiStepAgent._run_stream, agents.ToolCallingAgent.execute_tool_call, tools.Tool.__call__)
    assert restored == originals
