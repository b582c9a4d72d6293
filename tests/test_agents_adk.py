"""Google ADK through the real ``google-adk`` package: an ``LlmAgent`` with one tool whose ``Gemini`` model calls the
real ``google-genai`` client against the local stand-in server (its Gemini ``generateContent`` route), run by an
``InMemoryRunner``; plain, failing, with ADK's own tracing on, and as the sub-agent of a ``SequentialAgent``; and
one whose ``LiteLlm`` model reaches the stand-in's OpenAI-compatible endpoint through the real ``litellm``.

Runs where ADK is installed (``bash tests/adk-env.sh``: google-adk pins websockets<16, while the main environment
has websockets 17).
"""

from __future__ import annotations

import asyncio
import os

import pytest

if os.environ.get("ADK_TESTS_REQUIRED"):  # set by tests/adk-env.sh (conftest.py clears AGENTMETRICS_* names)
    import google.adk  # noqa: F401
else:
    pytest.importorskip("google.adk", reason="ADK runs in its own environment: bash tests/adk-env.sh")

from google.adk.agents import LlmAgent, SequentialAgent  # noqa: E402
from google.adk.models.google_llm import Gemini  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.adk.telemetry import tracing as adk_tracing  # noqa: E402
from google.genai import types  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.adk import ADKInstrumentor  # noqa: E402
from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"
MODEL_CALL = "generate_content gemini-2.5-flash"
STEPS = [MODEL_CALL, "execute_tool get_weather", MODEL_CALL]


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


broken_weather.__name__ = "get_weather"


@pytest.fixture(scope="module")
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel, monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", "test")
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        genai = GoogleGenAIInstrumentor()
        genai.instrument(telemetry=telemetry)
        instrumentor = ADKInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()
        genai.uninstrument()


@pytest.fixture
def adk_tracing_on(otel, monkeypatch):
    """ADK's own tracing on, to the test's provider (as a global provider would give it)."""
    monkeypatch.setattr(adk_tracing, "tracer", otel.tracer_provider.get_tracer("gcp.vertex.agent"))


def forecaster(llm: StandInServer, weather=get_weather) -> LlmAgent:
    model = Gemini(model="gemini-2.5-flash", base_url=llm.gemini_url)
    return LlmAgent(name="forecaster", description="Tells the weather", model=model, tools=[weather])


def run(agent, question: str = "Is it warm in Lisbon?") -> str:
    runner = InMemoryRunner(agent=agent, app_name="weather")

    async def main() -> str:
        session = await runner.session_service.create_session(app_name="weather", user_id="u-1", session_id="s-1")
        message = types.Content(role="user", parts=[types.Part(text=question)])
        texts = []
        async for event in runner.run_async(user_id="u-1", session_id=session.id, new_message=message):
            texts += [part.text for part in (event.content.parts if event.content else None) or [] if part.text]
        return "".join(texts)

    return asyncio.run(main())


def check_agent_run(spans, agent_span, steps=STEPS):
    assert agent_span.attributes["gen_ai.agent.description"] == "Tells the weather"
    assert agent_span.attributes["gen_ai.conversation.id"] == "s-1"
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == steps
    (call_id,) = kids[0].attributes["agentmetrics.response.tool_call_ids"]
    assert kids[1].attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in kids[1].links] == [kids[0].context.span_id]
    return kids


def only_run(spans, count: int = 4):
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    assert agent_span.parent is None
    assert len(spans) == count, [s.name for s in spans]
    return agent_span


def test_an_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert run(forecaster(llm)) == ANSWER
    spans = traced.finished()
    agent_span = only_run(spans)
    kids = check_agent_run(spans, agent_span)
    assert "error.type" not in kids[1].attributes
    assert_rollup(agent_span, [kids[0], kids[2]], tool_calls=1, errors=0)


def test_a_failing_tool_fails_its_span_and_the_run(traced, llm):
    with pytest.raises(ConnectionError, match="weather service down"):  # ADK re-raises a tool's exception
        run(forecaster(llm, broken_weather))
    spans = traced.finished()
    agent_span = only_run(spans, count=3)
    kids = check_agent_run(spans, agent_span, steps=STEPS[:2])
    assert kids[1].attributes["error.type"] == "ConnectionError"
    assert agent_span.attributes["error.type"] == "ConnectionError"
    assert_rollup(agent_span, kids[:1], tool_calls=1, errors=1)


def test_with_adk_own_tracing_on_one_span_per_run_and_per_model_call(adk_tracing_on, traced, llm):
    assert run(forecaster(llm)) == ANSWER
    spans = traced.finished()
    check_agent_run(spans, only_run(spans))  # no invocation, invoke_agent or model spans of ADK's beside ours


def test_adk_own_tracing_alone_doubles_the_model_calls(adk_tracing_on, otel, llm, monkeypatch):
    # What the instrumentor prevents: without it, ADK's spans and the google-genai client's are both there.
    monkeypatch.setenv("GOOGLE_API_KEY", "test")
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        genai = GoogleGenAIInstrumentor()
        genai.instrument(telemetry=telemetry)
        run(forecaster(llm))
        genai.uninstrument()
    names = [s.name for s in otel.finished()]
    assert names.count(MODEL_CALL) == 4 and names.count("invoke_agent forecaster") == 1


def test_a_sub_agent_runs_inside_its_parent(traced, llm):
    desk = SequentialAgent(name="desk", description="The weather desk", sub_agents=[forecaster(llm)])
    assert run(desk) == ANSWER
    spans = traced.finished()
    (desk_span,) = by_name(spans, "invoke_agent desk")
    assert desk_span.parent is None
    (member,) = children(spans, desk_span)
    assert member.name == "invoke_agent forecaster"
    kids = check_agent_run(spans, member)
    assert len(spans) == 5
    assert_rollup(member, [kids[0], kids[2]], tool_calls=1, errors=0)
    assert_rollup(desk_span, [kids[0], kids[2]], tool_calls=1, errors=0)


def test_inside_the_users_run_the_agent_is_a_nested_run(traced, llm):
    with agentmetrics.agent("support") as outer:
        run(forecaster(llm))
    spans = traced.finished()
    (support,) = by_name(spans, "invoke_agent support")
    assert [s.name for s in children(spans, support)] == ["invoke_agent forecaster"]
    assert (outer.model_calls, outer.tool_calls) == (2, 1)


def test_uninstrument_restores_adk(otel):
    from google.adk.agents.base_agent import BaseAgent
    from google.adk.flows.llm_flows.tools import _caller

    originals = (BaseAgent.run_async, _caller._call_tool_async, adk_tracing.tracer)
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = ADKInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert BaseAgent.run_async is not originals[0]
        assert adk_tracing.tracer is not originals[2]
        instrumentor.uninstrument()
    assert (BaseAgent.run_async, _caller._call_tool_async, adk_tracing.tracer) == originals


def test_an_openai_compatible_endpoint_through_litellm(otel, llm, monkeypatch):
    # ADK reaches OpenAI-compatible endpoints through LiteLlm: the litellm instrumentor's span is the model call.
    pytest.importorskip("litellm", reason="installed by tests/adk-env.sh")
    from google.adk.models.lite_llm import LiteLlm

    from otel_agentmetrics.instrumentors.llm.litellm import LiteLLMInstrumentor

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentors = [LiteLLMInstrumentor(), ADKInstrumentor()]
        for instrumentor in instrumentors:
            instrumentor.instrument(telemetry=telemetry)
        model = LiteLlm(model="openai/gpt-4o-mini", api_base=llm.openai_url, api_key="test")
        agent = LlmAgent(name="forecaster", description="Tells the weather", model=model, tools=[get_weather])
        answer = run(agent)
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
    assert answer == 'Here is what I found: {"result": "22 degrees in Lisbon"}. Enjoy the trip!'
    spans = otel.finished()
    agent_span = only_run(spans)
    chat = "chat openai/gpt-4o-mini"
    kids = check_agent_run(spans, agent_span, steps=[chat, "execute_tool get_weather", chat])
    assert_rollup(agent_span, [kids[0], kids[2]], tool_calls=1, errors=0)
