"""LangChain's legacy ``AgentExecutor`` (``langchain-classic``): a real tool-calling agent whose ``ChatOpenAI``
drives the real ``openai`` client against the local stand-in server (it asks for the first tool offered, then
answers from the tool's result)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_classic")
pytest.importorskip("langchain_openai")

from langchain_classic.agents import AgentExecutor, create_tool_calling_agent  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.tools import ToolException, tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.langchain_classic import LangChainClassicInstrumentor  # noqa: E402

from .scope_kit import by_name, children  # noqa: E402

QUESTION = {"input": "Is it warm in Lisbon?"}
ANSWER = "Here is what I found: 22 degrees and sunny in Lisbon. Enjoy the trip!"
PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You answer weather questions."), ("human", "{input}"), ("placeholder", "{agent_scratchpad}")]
)


# gpt-4o-mini's published prices, per million tokens: input, cached input, output.
INPUT, CACHED, OUTPUT = 0.15, 0.075, 0.60


def dollars(chat_span) -> float:
    attrs = chat_span.attributes
    cached = attrs.get("gen_ai.usage.cache_read.input_tokens", 0)
    fresh = attrs["gen_ai.usage.input_tokens"] - cached
    return (fresh * INPUT + cached * CACHED + attrs["gen_ai.usage.output_tokens"] * OUTPUT) / 1e6


def assert_rollup(agent_span, chats, tool_calls: int, errors: int) -> None:
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (len(chats), tool_calls)
    assert attrs["agentmetrics.agent.errors"] == errors
    assert attrs["agentmetrics.agent.input_tokens"] == sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats)
    assert attrs["agentmetrics.agent.output_tokens"] == sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(sum(dollars(c) for c in chats), rel=1e-12)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


@tool("get_weather")
def broken_weather(city: str) -> str:
    """Current weather for a city (its service is down)."""
    raise ConnectionError("weather service down")


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    telemetry = agentmetrics.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    telemetry.pricer.load()
    try:
        yield otel
    finally:
        agentmetrics.uninstrument()


def executor(llm: StandInServer, tools: list = [get_weather], **options: object) -> AgentExecutor:  # noqa: B006
    # The executor streams its model calls: stream_usage=True asks for their usage (else no tokens, no cost).
    model = ChatOpenAI(model="gpt-4o-mini", base_url=llm.openai_url, api_key="test", max_retries=0, stream_usage=True)
    return AgentExecutor(agent=create_tool_calling_agent(model, tools, PROMPT), tools=tools, **options)


def _one_run(spans, name: str = "invoke_agent AgentExecutor"):
    (agent_span,) = by_name(spans, name)
    return agent_span, children(spans, agent_span)


def test_invoke_is_one_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert executor(llm).invoke(QUESTION)["output"] == ANSWER
    spans = traced.finished()
    agent_span, kids = _one_run(spans)
    assert agent_span.parent is None and agent_span.kind.name == "INTERNAL"
    assert agent_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    assert len(spans) == 4
    first, tool_span, second = kids
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)
    (runs,) = traced.metric_points("agentmetrics.agent.duration")
    assert dict(runs.attributes) == {"gen_ai.agent.name": "AgentExecutor"} and runs.count == 1


def test_ainvoke_and_a_named_executor(traced, llm):
    agent = executor(llm).with_config(run_name="ignored")  # a RunnableBinding: the executor's own name counts
    named = executor(llm)
    named.name = "forecaster"

    async def both() -> list[str]:
        return [(await agent.ainvoke(QUESTION))["output"], (await named.ainvoke(QUESTION))["output"]]

    assert asyncio.run(both()) == [ANSWER, ANSWER]
    spans = traced.finished()
    for name in ("invoke_agent AgentExecutor", "invoke_agent forecaster"):
        agent_span, kids = _one_run(spans, name)
        assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
        assert_rollup(agent_span, [kids[0], kids[2]], tool_calls=1, errors=0)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_streamed_steps_are_one_run(traced, llm, mode):
    agent = executor(llm)
    if mode == "stream":
        steps = list(agent.stream(QUESTION))
    else:

        async def collect() -> list:
            return [step async for step in agent.astream(QUESTION)]

        steps = asyncio.run(collect())
    assert steps[-1]["output"] == ANSWER
    spans = traced.finished()
    agent_span, kids = _one_run(spans)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    assert_rollup(agent_span, [kids[0], kids[2]], tool_calls=1, errors=0)


def test_a_failing_tool_handed_to_the_model(traced, llm):
    @tool("get_weather")
    def broken(city: str) -> str:
        """Current weather for a city (its service is down)."""
        raise ToolException("weather service down")

    broken.handle_tool_error = True  # LangChain hands a ToolException's message to the model

    assert executor(llm, [broken]).invoke(QUESTION)["output"] == (
        "Here is what I found: weather service down. Enjoy the trip!"
    )
    agent_span, (first, tool_span, second) = _one_run(traced.finished())
    assert tool_span.attributes["error.type"] == "tool_error"
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes


def test_a_failing_tool_that_ends_the_run(traced, llm):
    with pytest.raises(ConnectionError, match="weather service down"):
        executor(llm, [broken_weather]).invoke(QUESTION)
    agent_span, (first, tool_span) = _one_run(traced.finished())
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.status.status_code.name == "ERROR"
    assert_rollup(agent_span, [first], tool_calls=1, errors=1)


def test_inside_the_users_run_the_default_named_executor_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        executor(llm).invoke(QUESTION)
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent support"]
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_uninstrument_restores_the_executor(otel, llm):
    from langchain_classic.agents.agent_iterator import AgentExecutorIterator

    originals = (AgentExecutor.__dict__["_call"], AgentExecutorIterator.__dict__["__iter__"])
    instrumentor = LangChainClassicInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    assert AgentExecutor.__dict__["_call"] is not originals[0]
    instrumentor.uninstrument()
    assert (AgentExecutor.__dict__["_call"], AgentExecutorIterator.__dict__["__iter__"]) == originals
    executor(llm).invoke(QUESTION)
    assert otel.finished() == []
