"""OpenAI Agents SDK: a real ``Runner.run`` whose model calls go through the real ``openai`` client to the
recorded two-step tool loop (the model asks for two ``get_current_weather`` calls, then answers)."""

from __future__ import annotations

import asyncio

import pytest

agents = pytest.importorskip("agents")

from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.instrumentors.agents.openai_agents import OpenAIAgentsInstrumentor  # noqa: E402

from .scope_kit import TOOL_LOOP_IDS, PerMillionPricer, by_name, openai_client, point_map, scoped_telemetry  # noqa: E402

WEATHER = {"Seattle, WA": "50 degrees and raining", "San Francisco, CA": "70 degrees and sunny"}
PRICER = PerMillionPricer(0.15, 0.60)  # gpt-4o-mini's published per-million prices


@function_tool
def get_current_weather(location: str) -> str:
    """Current weather for a city."""
    return WEATHER[location]


@function_tool
def get_current_weather_broken(location: str) -> str:
    """Current weather for a city (fails)."""
    raise ConnectionError("weather service down")


def weather_agent(tool) -> Agent:
    client = openai_client(async_=True)
    tool.name = "get_current_weather"  # the name the recorded model asks for
    return Agent(
        name="weather",
        instructions="You're a helpful assistant.",
        model=OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client),
        tools=[tool],
    )


@pytest.fixture
def sdk(otel):
    with scoped_telemetry(otel, PRICER, capture="true") as telemetry:
        instrumentor = OpenAIAgentsInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def run(agent: Agent) -> str:
    async def go() -> str:
        with agentmetrics.agent("weather") as _:
            result = await Runner.run(
                agent,
                "What's the weather in Seattle and San Francisco today?",
                run_config=RunConfig(tracing_disabled=True),
            )
        return str(result.final_output)

    return asyncio.run(go())


def test_runner_tool_calls_are_spans_linked_to_the_model_call(sdk):
    answer = run(weather_agent(get_current_weather))
    assert "Seattle" in answer
    spans = sdk.finished()
    (agent_span,) = by_name(spans, "invoke_agent weather")
    models = sorted(by_name(spans, "chat gpt-4o-mini"), key=lambda s: s.start_time)
    tools = sorted(
        by_name(spans, "execute_tool get_current_weather"), key=lambda s: s.attributes["gen_ai.tool.call.id"]
    )
    assert len(models) == 2 and len(tools) == 2
    assert [t.attributes["gen_ai.tool.call.id"] for t in tools] == sorted(TOOL_LOOP_IDS)
    for tool_span in tools:
        assert tool_span.parent.span_id == agent_span.context.span_id
        assert [link.context.span_id for link in tool_span.links] == [models[0].context.span_id]
        assert tool_span.attributes["gen_ai.tool.description"] == "Current weather for a city."
        assert tool_span.status.status_code.name == "UNSET"
    results = {t.attributes["gen_ai.tool.call.arguments"]: t.attributes["gen_ai.tool.call.result"] for t in tools}
    assert results == {
        '{"location": "Seattle, WA"}': WEATHER["Seattle, WA"],
        '{"location": "San Francisco, CA"}': WEATHER["San Francisco, CA"],
    }
    attrs = agent_span.attributes
    assert attrs["agentmetrics.agent.model_calls"] == 2
    assert attrs["agentmetrics.agent.tool_calls"] == 2
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (174, 76)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx((174 * 0.15 + 76 * 0.60) / 1e6, rel=1e-12)


def test_a_failing_tool_is_an_error_although_the_sdk_answers_the_model(sdk):
    run(weather_agent(get_current_weather_broken))
    spans = sdk.finished()
    tools = by_name(spans, "execute_tool get_current_weather")
    assert len(tools) == 2
    for tool_span in tools:
        assert tool_span.attributes["error.type"] == "ConnectionError"
        assert tool_span.status.status_code.name == "ERROR"
        assert "gen_ai.tool.call.result" not in tool_span.attributes
    (agent_span,) = by_name(spans, "invoke_agent weather")
    assert agent_span.attributes["agentmetrics.agent.errors"] == 2
    points = point_map(sdk.metric_points("agentmetrics.tool.duration"))
    assert points[(("error.type", "ConnectionError"), ("gen_ai.tool.name", "get_current_weather"))].count == 2


def test_decorated_function_run_by_the_sdk_has_one_span(sdk):
    @function_tool(name_override="get_current_weather")
    @agentmetrics.tool(name="get_current_weather")
    def weather(location: str) -> str:
        """Current weather for a city."""
        return WEATHER[location]

    run(weather_agent(weather))
    tools = by_name(sdk.finished(), "execute_tool get_current_weather")
    assert sorted(t.attributes["gen_ai.tool.call.id"] for t in tools) == sorted(TOOL_LOOP_IDS)


RESPONSES = "openai/test_responses_create_captures_tool_call_content[content_mode0]"
RESPONSES_CALL_ID = "call_90uO5LcGP5vTBTCrjyhYtWsA"


def responses_client():
    """The SDK's default model (Responses API). The first answer is recorded (a function_call); the model's final
    answer after the tool result is built from the documented Responses wire format, since the recording stops
    at the tool call: the recorded body with its output replaced by an assistant message and its usage by
    96 input / 12 output tokens."""
    import json as _json

    import openai

    from .replay import Cassette, http_module_of

    httpx = http_module_of(openai)
    recorded = Cassette(RESPONSES)
    first = recorded.handler(httpx)
    template = _json.loads(recorded.interactions[0]["response"]["body"]["string"])
    sent: list = []

    def handle(request):
        sent.append(request)
        if len(sent) == 1:
            return first(request)
        body = dict(template, id="resp_final", previous_response_id=None)
        body["output"] = [
            {
                "id": "msg_final",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "It is 50 degrees and raining in Seattle.", "annotations": []}
                ],
            }
        ]
        body["usage"] = dict(template["usage"], input_tokens=96, output_tokens=12, total_tokens=108)
        return httpx.Response(200, json=body, request=request)

    client = openai.AsyncOpenAI(
        api_key="test_openai_api_key", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle))
    )
    return client, sent


def test_default_responses_model_links_the_tool_to_its_model_call(sdk):
    from agents import OpenAIResponsesModel

    client, sent = responses_client()
    tool = get_current_weather
    tool.name = "get_current_weather"
    agent = Agent(
        name="weather",
        instructions="You're a helpful assistant.",
        model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client),
        tools=[tool],
    )
    assert run(agent) == "It is 50 degrees and raining in Seattle."
    assert len(sent) == 2
    spans = sdk.finished()
    models = sorted([s for s in spans if s.kind.name == "CLIENT"], key=lambda s: s.start_time)
    (tool_span,) = by_name(spans, "execute_tool get_current_weather")
    assert len(models) == 2
    assert list(models[0].attributes["agentmetrics.response.tool_call_ids"]) == [RESPONSES_CALL_ID]
    assert tool_span.attributes["gen_ai.tool.call.id"] == RESPONSES_CALL_ID
    assert [link.context.span_id for link in tool_span.links] == [models[0].context.span_id]
    (agent_span,) = by_name(spans, "invoke_agent weather")
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (2, 1)
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (72 + 96, 8 + 12)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx((168 * 0.15 + 20 * 0.60) / 1e6, rel=1e-12)


QUESTION = "What's the weather in Seattle and San Francisco today?"


def test_runner_run_is_an_agent_run_by_itself(sdk):
    """No agentmetrics.agent() around it: the SDK's run becomes ``invoke_agent {agent name}`` with the roll-up."""
    agent = weather_agent(get_current_weather)
    agent.name = "forecaster"
    result = asyncio.run(Runner.run(agent, QUESTION, run_config=RunConfig(tracing_disabled=True)))
    assert "Seattle" in str(result.final_output)
    spans = sdk.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    assert agent_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert (
        agent_span.attributes["agentmetrics.agent.model_calls"],
        agent_span.attributes["agentmetrics.agent.tool_calls"],
    ) == (2, 2)
    children = [s for s in spans if s.parent is not None and s.parent.span_id == agent_span.context.span_id]
    assert sorted(s.name for s in children) == ["chat gpt-4o-mini"] * 2 + ["execute_tool get_current_weather"] * 2


def test_run_sync_inside_a_differently_named_run_nests(sdk):
    agent = weather_agent(get_current_weather)
    agent.name = "forecaster"
    with agentmetrics.agent("support-desk") as outer:
        Runner.run_sync(agent, QUESTION, run_config=RunConfig(tracing_disabled=True))
    spans = sdk.finished()
    (desk,) = by_name(spans, "invoke_agent support-desk")
    (forecaster,) = by_name(spans, "invoke_agent forecaster")
    assert forecaster.parent.span_id == desk.context.span_id
    assert (outer.model_calls, outer.tool_calls) == (2, 2)


def test_run_streamed_is_an_agent_run_that_ends_with_the_stream(sdk):
    """``Runner.run_streamed`` returns before the run: the span covers the SDK's task and ends when it does."""
    from agents import ModelSettings

    from otel_agentmetrics.demo.server import StandInServer

    async def go(server: StandInServer) -> list[str]:
        import openai

        client = openai.AsyncOpenAI(api_key="test", base_url=server.openai_url)
        agent = Agent(
            name="forecaster",
            instructions="You're a helpful assistant.",
            model=OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client),
            model_settings=ModelSettings(include_usage=True),  # the SDK streams without usage otherwise
            tools=[get_weather],
        )
        result = Runner.run_streamed(agent, "Is it warm in Lisbon?", run_config=RunConfig(tracing_disabled=True))
        assert by_name(sdk.finished(), "invoke_agent forecaster") == []  # not ended before the run
        kinds = [event.type async for event in result.stream_events()]
        assert "raw_response_event" in kinds
        return [str(result.final_output)]

    with StandInServer(latency=(0.0, 0.0)) as server:
        (answer,) = asyncio.run(go(server))
    assert answer == "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"
    spans = sdk.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    children = sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == agent_span.context.span_id),
        key=lambda s: s.start_time,
    )
    assert [s.name for s in children] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    models = [children[0], children[2]]
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (2, 1)
    tokens_in = sum(m.attributes["gen_ai.usage.input_tokens"] for m in models)
    tokens_out = sum(m.attributes["gen_ai.usage.output_tokens"] for m in models)
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (
        tokens_in,
        tokens_out,
    )
    assert attrs["agentmetrics.agent.cost"] == pytest.approx((tokens_in * 0.15 + tokens_out * 0.60) / 1e6, rel=1e-12)


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def test_a_streamed_run_that_fails_ends_its_span_failed(sdk):
    from agents import MaxTurnsExceeded

    from otel_agentmetrics.demo.server import StandInServer

    async def go(server: StandInServer) -> None:
        import openai

        client = openai.AsyncOpenAI(api_key="test", base_url=server.openai_url)
        agent = Agent(
            name="forecaster",
            model=OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client),
            tools=[get_weather],
        )
        result = Runner.run_streamed(agent, "Lisbon?", max_turns=1, run_config=RunConfig(tracing_disabled=True))
        with pytest.raises(MaxTurnsExceeded):
            async for _ in result.stream_events():
                pass

    with StandInServer(latency=(0.0, 0.0)) as server:
        asyncio.run(go(server))
    (agent_span,) = by_name(sdk.finished(), "invoke_agent forecaster")
    assert agent_span.attributes["error.type"] == "MaxTurnsExceeded"
    assert agent_span.status.status_code.name == "ERROR"
    assert agent_span.attributes["agentmetrics.agent.tool_calls"] == 1
