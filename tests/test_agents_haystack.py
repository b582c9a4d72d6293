"""Haystack: a real ``Agent`` whose ``OpenAIChatGenerator`` drives the real ``openai`` client against the local
stand-in server (it asks for the first tool offered, then answers from the tool's result)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("haystack")

from haystack import Pipeline  # noqa: E402
from haystack.components.agents import Agent  # noqa: E402
from haystack.components.generators.chat import OpenAIChatGenerator  # noqa: E402
from haystack.dataclasses import ChatMessage  # noqa: E402
from haystack.tools import create_tool_from_function  # noqa: E402
from haystack.utils import Secret  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.haystack import HaystackInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, instrumented, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
QUESTION = [ChatMessage.from_user("Is it warm in Lisbon?")]
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"
TREE = ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, HaystackInstrumentor(), PRICER)


def weather_agent(llm: StandInServer, function=get_weather, **options) -> Agent:
    generator = OpenAIChatGenerator(api_key=Secret.from_token("test"), model="gpt-4o-mini", api_base_url=llm.openai_url)
    return Agent(chat_generator=generator, tools=[create_tool_from_function(function, name="get_weather")], **options)


def assert_tree(spans, name: str = "invoke_agent Agent"):
    (agent_span,) = by_name(spans, name)
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == TREE
    first, tool_span, second = kids
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    return agent_span, first, tool_span, second


def test_run_is_one_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert weather_agent(llm).run(messages=QUESTION)["last_message"].text == ANSWER
    spans = traced.finished()
    assert len(spans) == 4
    agent_span, first, tool_span, second = assert_tree(spans)
    assert agent_span.parent is None
    assert tool_span.attributes["gen_ai.tool.description"] == "Current weather for a city."
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)


def test_run_async_and_a_named_agent_in_a_pipeline(traced, llm):
    pipeline = Pipeline()
    pipeline.add_component("forecaster", weather_agent(llm))
    assert pipeline.run({"forecaster": {"messages": QUESTION}})["forecaster"]["last_message"].text == ANSWER
    assert asyncio.run(weather_agent(llm).run_async(messages=QUESTION))["last_message"].text == ANSWER
    spans = traced.finished()
    for name in ("invoke_agent forecaster", "invoke_agent Agent"):
        agent_span, first, _tool, second = assert_tree(spans, name)
        assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)


def test_a_failing_tool_handed_to_the_model(traced, llm):
    reply = weather_agent(llm, broken_weather).run(messages=QUESTION)["last_message"].text
    assert reply.startswith("Here is what I found: ") and "weather service down" in reply
    agent_span, first, tool_span, second = assert_tree(traced.finished())
    assert tool_span.attributes["error.type"] == "ConnectionError"  # the tool's own, not ToolInvocationError
    assert tool_span.status.status_code.name == "ERROR"
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes


def test_a_failing_tool_that_ends_the_run(traced, llm):
    with pytest.raises(Exception, match="weather service down") as raised:
        weather_agent(llm, broken_weather, raise_on_tool_invocation_failure=True).run(messages=QUESTION)
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent Agent")
    first, tool_span = children(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.attributes["error.type"] == type(raised.value).__qualname__
    assert_rollup(agent_span, [first], tool_calls=1, errors=1)


def test_inside_the_users_run_the_default_named_agent_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        weather_agent(llm).run(messages=QUESTION)
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent support"]
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_uninstrument_restores_haystack(otel, llm):
    from haystack.tools import Tool

    original = (Agent.__dict__["run"], Tool.__dict__["invoke"])
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = HaystackInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert Agent.__dict__["run"] is not original[0]
        instrumentor.uninstrument()
    assert (Agent.__dict__["run"], Tool.__dict__["invoke"]) == original
    weather_agent(llm).run(messages=QUESTION)
    assert otel.finished() == []
