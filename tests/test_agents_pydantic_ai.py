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

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, instrumented, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
QUESTION = "Is it warm in Lisbon?"
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, PydanticAIInstrumentor(), PRICER)


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


def _rows(spans):
    """What the local summary store keeps of these spans, by kind (it keeps GenAI spans of any instrumentation)."""
    from otel_agentmetrics.summary.convert import to_row

    rows = [row for row in map(to_row, spans) if row is not None]
    return sorted((row.kind, row.name) for row in rows)


@pytest.mark.parametrize("how", ["instrument=", "instrument_all"])
def test_pydantic_ais_own_instrumentation_doubles_nothing(traced, llm, how):
    """With its own tracing on, each run, model call and tool is still one span (ours), counted once."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    settings = InstrumentationSettings(tracer_provider=traced.tracer_provider, meter_provider=traced.meter_provider)
    agent = weather_agent(llm)
    if how == "instrument=":
        agent.instrument = settings
    else:
        Agent.instrument_all(settings)
    try:
        assert agent.run_sync(QUESTION).output == ANSWER
    finally:
        Agent.instrument_all(False)
    spans = traced.finished()
    assert {s.instrumentation_scope.name for s in spans} == {"otel_agentmetrics"}
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    first, tool_span, second = children(spans, agent_span)
    assert [s.name for s in (first, tool_span, second)] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert len(spans) == 4
    assert first.attributes["gen_ai.provider.name"] == "openai"  # the client's span: the call's one span
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)
    assert _rows(spans) == [
        ("agent", "invoke_agent forecaster"),
        ("model", "chat gpt-4o-mini"),
        ("model", "chat gpt-4o-mini"),
        ("tool", "execute_tool get_weather"),
    ]
    # The token metric counts each call once: ours only (theirs would add points of its own).
    tokens = traced.metric_points("gen_ai.client.token.usage")
    assert sum(p.count for p in tokens) == 4  # two calls, input and output each
    assert sum(p.sum for p in tokens) == sum(
        c.attributes["gen_ai.usage.input_tokens"] + c.attributes["gen_ai.usage.output_tokens"] for c in (first, second)
    )


def test_their_instrumentation_off_again_after_uninstrument(otel, llm):
    """Without us, Pydantic AI's own spans are back (so the test above cannot pass by their absence)."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    agent = weather_agent(llm)
    agent.instrument = InstrumentationSettings(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = PydanticAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        instrumentor.uninstrument()
    agent.run_sync(QUESTION)
    theirs = sorted(s.name for s in otel.finished() if s.instrumentation_scope.name == "pydantic-ai")
    assert theirs == ["chat gpt-4o-mini", "chat gpt-4o-mini", "execute_tool get_weather", "invoke_agent forecaster"]


def _function_model_agent(fail_model: bool = False) -> Agent:
    """A model no client instrumentor sees: Pydantic AI's ``FunctionModel``, with the usage it reports."""
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_ai.usage import RequestUsage

    def respond(messages, info: AgentInfo) -> ModelResponse:
        if fail_model:
            raise ConnectionError("model backend down")
        returned = [p for m in messages for p in getattr(m, "parts", ()) if isinstance(p, ToolReturnPart)]
        if not returned:
            call = ToolCallPart("get_weather", {"city": "Lisbon"}, tool_call_id="call_local_1")
            return ModelResponse([call], usage=RequestUsage(input_tokens=100, output_tokens=20), model_name="local-7b")
        text = TextPart(f"Here is what I found: {returned[-1].content}")
        return ModelResponse([text], usage=RequestUsage(input_tokens=140, output_tokens=12), model_name="local-7b")

    agent = Agent(FunctionModel(respond, model_name="local-7b"), name="forecaster", retries=1)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"22 degrees in {city}"

    return agent


def test_a_model_no_client_sees_is_recorded_from_its_response_once(otel):
    """With their tracing on, a ``FunctionModel``'s calls are our spans, from the usage Pydantic AI reports."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    pricer = PerMillionPricer(1.0, 2.0)
    with scoped_telemetry(otel, pricer, openai_client=False) as telemetry:
        instrumentor = PydanticAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        agent = _function_model_agent()
        agent.instrument = InstrumentationSettings(tracer_provider=otel.tracer_provider)
        try:
            assert agent.run_sync(QUESTION).output == "Here is what I found: 22 degrees in Lisbon"
        finally:
            instrumentor.uninstrument()
    spans = otel.finished()
    assert {s.instrumentation_scope.name for s in spans} == {"otel_agentmetrics"}
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    first, tool_span, second = children(spans, agent_span)
    assert [s.name for s in (first, tool_span, second)] == [
        "chat local-7b",
        "execute_tool get_weather",
        "chat local-7b",
    ]
    assert first.kind.name == "CLIENT" and first.attributes["gen_ai.provider.name"] == "function"
    assert (first.attributes["gen_ai.usage.input_tokens"], first.attributes["gen_ai.usage.output_tokens"]) == (100, 20)
    assert first.attributes["agentmetrics.response.tool_call_ids"] == ("call_local_1",)
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call_local_1"
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.input_tokens"]) == (2, 240)
    assert attrs["agentmetrics.agent.output_tokens"] == 32
    assert attrs["agentmetrics.agent.cost"] == pytest.approx((240 * 1.0 + 32 * 2.0) / 1e6, rel=1e-12)


def test_a_failing_model_no_client_sees_is_one_failed_span(otel):
    from pydantic_ai.models.instrumented import InstrumentationSettings

    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = PydanticAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        agent = _function_model_agent(fail_model=True)
        agent.instrument = InstrumentationSettings(tracer_provider=otel.tracer_provider)
        try:
            with pytest.raises(ConnectionError, match="model backend down"):
                agent.run_sync(QUESTION)
        finally:
            instrumentor.uninstrument()
    spans = otel.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    (chat,) = children(spans, agent_span)
    assert chat.name == "chat local-7b" and chat.attributes["error.type"] == "ConnectionError"
    assert agent_span.attributes["agentmetrics.agent.errors"] == 1
    assert len(spans) == 2


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
