"""AutoGen AgentChat: a real ``AssistantAgent`` whose ``OpenAIChatCompletionClient`` drives the real ``openai`` client
against the local stand-in server (it asks for the first tool offered, then answers from the tool's result), alone
and in a ``RoundRobinGroupChat`` team. autogen-core pins protobuf 5, so these run in a venv of their own: ``bash
tests/autogen-env.sh``.

AutoGen's own GenAI spans go to the global tracer provider; here ``autogen_core``'s span helpers are pointed at the
test's provider (as ``instrument()`` makes ours the global one), so a second span of theirs would show."""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

import pytest

if os.environ.get("AUTOGEN_TESTS_REQUIRED"):  # set by tests/autogen-env.sh: AutoGen must be there
    import autogen_agentchat  # noqa: F401
else:
    pytest.importorskip("autogen_agentchat", reason="AutoGen runs in its own environment: bash tests/autogen-env.sh")
    pytest.importorskip("autogen_ext.models.openai")

from autogen_agentchat.agents import AssistantAgent  # noqa: E402
from autogen_agentchat.teams import RoundRobinGroupChat  # noqa: E402
from autogen_ext.models.openai import OpenAIChatCompletionClient  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.autogen import AutoGenInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
QUESTION = "Is it warm in Lisbon?"
ANSWER = "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"
TREE = ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]


async def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel, monkeypatch):
    from autogen_core._telemetry import _genai

    # AutoGen's helpers take the global provider's tracer: the test's provider stands in for it.
    monkeypatch.setattr(
        _genai, "trace", SimpleNamespace(**{**vars(_genai.trace), "get_tracer": otel.tracer_provider.get_tracer})
    )
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentor = AutoGenInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def forecaster(llm: StandInServer, tool=get_weather, name: str = "forecaster") -> AssistantAgent:
    client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=llm.openai_url, api_key="test", max_retries=0)
    return AssistantAgent(name, model_client=client, tools=[tool], reflect_on_tool_use=True,
                          description="Tells the weather")  # fmt: skip


def genai_spans(spans):
    return [s for s in spans if s.attributes.get("gen_ai.operation.name") in ("chat", "invoke_agent", "execute_tool")]


def assert_tree(spans, agent_span):
    first, tool_span, second = children(spans, agent_span)
    assert [first.name, tool_span.name, second.name] == TREE
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    return first, tool_span, second


def test_an_agent_run_is_one_run_above_its_model_and_tool_calls(traced, llm):
    result = asyncio.run(forecaster(llm).run(task=QUESTION))
    assert result.messages[-1].content == ANSWER
    spans = traced.finished()
    assert len(genai_spans(spans)) == 4  # one each: AutoGen's own invoke_agent/execute_tool spans are ours now
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    assert agent_span.instrumentation_scope.name == "otel_agentmetrics"
    assert agent_span.attributes["gen_ai.agent.description"] == "Tells the weather"
    first, tool_span, second = assert_tree(spans, agent_span)
    assert tool_span.attributes["gen_ai.tool.description"] == "Current weather for a city."
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)


def test_a_team_nests_its_agents_turns(traced, llm):
    team = RoundRobinGroupChat([forecaster(llm)], max_turns=1, name="weather_desk")
    result = asyncio.run(team.run(task=QUESTION))
    assert result.messages[-1].content == ANSWER
    spans = traced.finished()
    assert len(genai_spans(spans)) == 5
    (team_span,) = by_name(spans, "invoke_agent weather_desk")
    (agent_span,) = children(spans, team_span)
    assert agent_span.name == "invoke_agent forecaster" and agent_span.attributes["gen_ai.agent.id"]
    first, _tool, second = assert_tree(spans, agent_span)
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)
    assert_rollup(team_span, [first, second], tool_calls=1, errors=0)  # a nested run counts in both


def test_a_failing_tool_handed_to_the_model(traced, llm):
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        raise ConnectionError("weather service down")

    result = asyncio.run(forecaster(llm, get_weather).run(task=QUESTION))
    assert "weather service down" in result.messages[-1].content
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    first, tool_span, second = assert_tree(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes


def test_uninstrument_gives_autogen_its_spans_back(otel, llm, monkeypatch):
    from autogen_core._telemetry import _genai

    monkeypatch.setattr(
        _genai, "trace", SimpleNamespace(**{**vars(_genai.trace), "get_tracer": otel.tracer_provider.get_tracer})
    )
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = AutoGenInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        instrumentor.uninstrument()
    asyncio.run(forecaster(llm).run(task=QUESTION))
    theirs = sorted(s.name for s in genai_spans(otel.finished()))
    assert theirs == ["execute_tool get_weather", "invoke_agent forecaster"]
    assert {s.instrumentation_scope.name for s in genai_spans(otel.finished())} == {"autogen-core"}


def test_autogen_team_example(tmp_path):
    """examples/autogen_team.py as a user runs it (it starts the stand-in itself), read back from the store."""
    from otel_agentmetrics.summary import summary

    from .examples_kit import all_stored_spans, run_bare

    assert (
        run_bare("autogen_team.py", tmp_path)
        == "Here is what I found: 22 degrees and sunny in Lisbon. Enjoy the trip!\n"
    )
    rows = all_stored_spans(tmp_path)
    by_kind = {kind: [r["name"] for r in rows if r["kind"] == kind] for kind in ("agent", "tool", "model")}
    assert by_kind == {
        "agent": ["invoke_agent weather_desk", "invoke_agent forecaster"],
        "tool": ["execute_tool get_weather"],
        "model": ["chat gpt-4o-mini", "chat gpt-4o-mini"],
    }
    (desk,) = [a for a in summary(tmp_path / "store.sqlite3").by_agent if a.name == "weather_desk"]
    models = [r for r in rows if r["kind"] == "model"]
    assert desk.model_calls == 2
    assert desk.cost_usd == pytest.approx(sum(float(m["cost"]) for m in models), rel=1e-9)
