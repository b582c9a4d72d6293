"""Pydantic AI: a real ``Agent`` whose ``OpenAIChatModel`` drives the real ``openai`` client against the local
stand-in server (it asks for the first tool offered, then answers from the tool's result)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent, ModelRetry  # noqa: E402
from pydantic_ai.models.openai import OpenAIChatModel  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.pydantic_ai import PydanticAIInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
QUESTION = "Is it warm in Lisbon?"
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentor = PydanticAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def weather_agent(llm: StandInServer, name: str | None = "forecaster", fail: BaseException | None = None) -> Agent:
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=llm.openai_url, api_key="test"))
    agent = Agent(model, name=name, retries=1)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        if fail is not None:
            raise fail
        return f"22 degrees in {city}"

    return agent


def test_run_sync_is_one_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert weather_agent(llm).run_sync(QUESTION).output == ANSWER
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    assert agent_span.parent is None
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    assert len(spans) == 4
    first, tool_span, second = kids
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert tool_span.attributes["gen_ai.tool.description"] == "Current weather for a city."
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)


def test_run_and_run_stream(traced, llm):
    agent = weather_agent(llm)

    async def both() -> list[str]:
        await agent.run(QUESTION, conversation_id="c-1")
        async with agent.run_stream(QUESTION) as stream:
            return [text async for text in stream.stream_text(delta=True)]

    assert "".join(asyncio.run(both())) == ANSWER
    spans = traced.finished()
    runs = sorted(by_name(spans, "invoke_agent forecaster"), key=lambda s: s.start_time)
    assert len(runs) == 2
    assert runs[0].attributes["gen_ai.conversation.id"] == "c-1"
    for run in runs:
        kids = children(spans, run)
        assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
        assert_rollup(run, [kids[0], kids[2]], tool_calls=1, errors=0)


def test_a_tool_asking_the_model_to_retry_is_a_failed_tool_run(traced, llm):
    agent = weather_agent(llm, fail=ModelRetry("city unknown, try another spelling"))
    agent.run_sync(QUESTION)
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    first, tool_span, second = children(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ToolRetryError"
    assert tool_span.status.status_code.name == "ERROR"
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes


def test_a_tool_exception_ends_the_run_failed(traced, llm):
    agent = weather_agent(llm, fail=ConnectionError("weather service down"))
    with pytest.raises(ConnectionError, match="weather service down"):
        agent.run_sync(QUESTION)
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    first, tool_span = children(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.status.status_code.name == "ERROR"
    assert_rollup(agent_span, [first], tool_calls=1, errors=1)


def test_an_unnamed_agent_inside_the_users_run_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        weather_agent(llm, name=None).run_sync(QUESTION)
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent support"]
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_pydantic_ais_own_instrumentation_coexists(traced, llm):
    """With ``instrument=...`` Pydantic AI adds its own spans; ours, the roll-up and the dollars do not change."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    agent = weather_agent(llm)
    agent.instrument = InstrumentationSettings(tracer_provider=traced.tracer_provider)
    assert agent.run_sync(QUESTION).output == ANSWER
    spans = traced.finished()
    ours = [s for s in spans if s.instrumentation_scope.name == "otel_agentmetrics"]
    theirs = [s for s in spans if s.instrumentation_scope.name == "pydantic-ai"]
    assert sorted(s.name for s in ours) == sorted(
        ["invoke_agent forecaster", "chat gpt-4o-mini", "chat gpt-4o-mini", "execute_tool get_weather"]
    )
    assert theirs  # theirs are still emitted: not ours to remove
    (agent_span,) = [s for s in ours if s.name == "invoke_agent forecaster"]
    chats = [s for s in ours if s.name == "chat gpt-4o-mini"]
    assert_rollup(agent_span, chats, tool_calls=1, errors=0)


def test_uninstrument_restores_the_agent(otel, llm):
    from pydantic_ai.agent import Agent as AgentClass
    from pydantic_ai.tool_manager import ToolManager

    original_iter, original_execute = AgentClass.__dict__["iter"], ToolManager.__dict__["_raw_execute"]
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = PydanticAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert AgentClass.__dict__["iter"] is not original_iter
        instrumentor.uninstrument()
    assert AgentClass.__dict__["iter"] is original_iter
    assert ToolManager.__dict__["_raw_execute"] is original_execute
    weather_agent(llm).run_sync(QUESTION)
    assert otel.finished() == []
