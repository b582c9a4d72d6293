"""Agno through the real ``agno`` package: an agent with one tool whose ``OpenAIChat`` model calls the real
``openai`` client against the local stand-in server, plain, streamed, async, failing, and a team delegating to it."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ["AGNO_TELEMETRY"] = "false"  # Agno would report runs to its servers: never from tests

agno = pytest.importorskip("agno")

from agno.agent import Agent  # noqa: E402
from agno.models.openai import OpenAIChat  # noqa: E402
from agno.team import Team  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo import server as stand_in  # noqa: E402
from otel_agentmetrics.instrumentors.agents.agno import AgnoInstrumentor  # noqa: E402

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
STEPS = ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


broken_weather.__name__ = "get_weather"


@pytest.fixture(scope="module")
def llm():
    with stand_in.StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, AgnoInstrumentor(), PRICER)


def model(llm: stand_in.StandInServer) -> OpenAIChat:
    return OpenAIChat(id="gpt-4o-mini", base_url=llm.openai_url, api_key="test")


def forecaster(llm: stand_in.StandInServer, weather=get_weather, name: str | None = "forecaster") -> Agent:
    return Agent(name=name, description="Tells the weather", model=model(llm), tools=[weather], telemetry=False)


def check_agent_run(spans, agent_span, errors: int = 0):
    assert agent_span.attributes["gen_ai.agent.description"] == "Tells the weather"
    assert agent_span.attributes["gen_ai.conversation.id"] == "s-1"
    return check_tool_loop(spans, agent_span, STEPS, errors)


def only_run(spans):
    return only_agent_run(spans, "invoke_agent forecaster", 4)


def test_an_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert forecaster(llm).run("Is it warm in Lisbon?", session_id="s-1").content == ANSWER
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans))
    assert "error.type" not in tool_span.attributes


def test_a_failing_tool_agno_hands_to_the_model(traced, llm):
    output = forecaster(llm, broken_weather).run("Is it warm in Lisbon?", session_id="s-1")
    assert output.content == "Here is what I found: weather service down. Enjoy the trip!"
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans), errors=1)
    assert tool_span.attributes["error.type"] == "ConnectionError"


def test_a_streamed_run_ends_with_its_stream(traced, llm):
    events = forecaster(llm).run("Is it warm in Lisbon?", session_id="s-1", stream=True)
    assert traced.finished() == []  # nothing opened before the caller iterates
    text = "".join(e.content for e in events if type(e).__name__ == "RunContentEvent" and e.content)
    assert text == ANSWER
    spans = traced.finished()
    check_agent_run(spans, only_run(spans))


def test_arun_is_the_same_run(traced, llm):
    assert asyncio.run(forecaster(llm).arun("Is it warm in Lisbon?", session_id="s-1")).content == ANSWER
    spans = traced.finished()
    check_agent_run(spans, only_run(spans))


@pytest.mark.parametrize("mode", ["run", "arun", "arun stream"])
def test_a_team_delegating_to_its_member_nests_the_members_run(traced, llm, monkeypatch, mode):
    # The stand-in model fills a tool's arguments; this one names the member to delegate to.
    arguments = {"member_id": "forecaster", "task": "Is it warm in Lisbon?"}
    monkeypatch.setitem(stand_in.TOOL_ARGUMENTS, "delegate_task_to_member", arguments)
    team = Team(name="weather desk", members=[forecaster(llm)], model=model(llm), telemetry=False)
    question = "Is it warm in Lisbon?"
    if mode == "run":
        answer = team.run(question, session_id="s-1").content
    elif mode == "arun":
        answer = asyncio.run(team.arun(question, session_id="s-1")).content
    else:

        async def streamed() -> str:
            events = team.arun(question, session_id="s-1", stream=True)
            # The team's own text and its member's, both streamed as content events.
            return "".join([e.content async for e in events if isinstance(getattr(e, "content", None), str)])

        answer = asyncio.run(streamed())
    assert answer.endswith("Enjoy the trip!")
    spans = traced.finished()
    (desk,) = by_name(spans, "invoke_agent weather desk")
    kids = children(spans, desk)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool delegate_task_to_member", "chat gpt-4o-mini"]
    (member,) = children(spans, kids[1])
    assert member.name == "invoke_agent forecaster"
    member_kids = check_agent_run(spans, member)
    assert member_kids.attributes["gen_ai.tool.name"] == "get_weather"
    assert len(spans) == 8
    all_chats = by_name(spans, "chat gpt-4o-mini")
    assert_rollup(desk, all_chats, tool_calls=2, errors=0)


def test_an_unnamed_agent_inside_the_users_run_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        forecaster(llm, name=None).run("Is it warm in Lisbon?", session_id="s-1")
    spans = traced.finished()
    (support,) = by_name(spans, "invoke_agent support")
    assert [s.name for s in children(spans, support)] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_uninstrument_restores_agno(otel, llm):
    from agno.agent import _run
    from agno.tools import function

    originals = (_run._run, _run._arun_stream, function.FunctionCall.execute, function.log_exception)
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentor = AgnoInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert _run._run is not originals[0]
        instrumentor.uninstrument()
    assert (_run._run, _run._arun_stream, function.FunctionCall.execute, function.log_exception) == originals


def test_an_exception_agno_only_logs_does_not_fail_the_tool(traced, llm):
    # A post-hook that raises is logged by Agno and swallowed: the tool ran fine, its span is not failed.
    from agno.tools import tool

    def audit(*args, **kwargs) -> None:
        raise RuntimeError("audit log unreachable")

    audited = tool(name="get_weather", description="Current weather for a city.", post_hook=audit)(get_weather)
    agent = forecaster(llm, audited)
    assert agent.run("Is it warm in Lisbon?", session_id="s-1").content == ANSWER
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans))
    assert "error.type" not in tool_span.attributes
