"""Strands Agents through the real ``strands-agents`` package: an agent with one tool whose ``OpenAIModel`` calls
the real ``openai`` client against the local stand-in server; plain, streamed, failing, with Strands' own tracing
on, and as the node of a graph and a swarm.

Runs where Strands is installed (``bash tests/strands-env.sh``: strands-agents pins watchdog<7, while the main
environment has watchdog 7).
"""

from __future__ import annotations

import asyncio
import os

import pytest

if os.environ.get("STRANDS_TESTS_REQUIRED"):  # set by tests/strands-env.sh (conftest.py clears AGENTMETRICS_* names)
    import strands
else:
    strands = pytest.importorskip("strands", reason="Strands runs in its own environment: bash tests/strands-env.sh")

from opentelemetry import trace  # noqa: E402
from strands import Agent, tool  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.multiagent import GraphBuilder, Swarm  # noqa: E402
from strands.telemetry import tracer as strands_tracer  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.strands import StrandsInstrumentor  # noqa: E402

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


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city to look up.
    """
    return f"22 degrees in {city}"


@tool(name="get_weather")
def broken_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city to look up.
    """
    raise ConnectionError("weather service down")


@pytest.fixture(scope="module")
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, StrandsInstrumentor(), PRICER)


@pytest.fixture
def strands_tracing(otel, monkeypatch):
    """Strands' own tracing on, to the test's provider (as a global provider would give it)."""
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: otel.tracer_provider)
    monkeypatch.setattr(strands_tracer, "_tracer_instance", strands_tracer.Tracer())


def forecaster(llm: StandInServer, weather=get_weather, name: str | None = "forecaster") -> Agent:
    model = OpenAIModel(client_args={"base_url": llm.openai_url, "api_key": "test"}, model_id="gpt-4o-mini")
    return Agent(model=model, tools=[weather], name=name, description="Tells the weather", callback_handler=None)


def check_agent_run(spans, agent_span, errors: int = 0):
    assert agent_span.attributes["gen_ai.agent.description"] == "Tells the weather"
    return check_tool_loop(spans, agent_span, STEPS, errors)


def only_run(spans):
    return only_agent_run(spans, "invoke_agent forecaster", 4)


def test_an_agent_run_above_its_model_and_tool_calls(traced, llm):
    assert str(forecaster(llm)("Is it warm in Lisbon?")).strip() == ANSWER
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans))
    assert "error.type" not in tool_span.attributes
    assert tool_span.attributes["gen_ai.tool.description"] == "Current weather for a city."


def test_a_failing_tool_strands_hands_to_the_model(traced, llm):
    answer = str(forecaster(llm, broken_weather)("Is it warm in Lisbon?")).strip()
    assert answer == "Here is what I found: Error: ConnectionError - weather service down. Enjoy the trip!"
    spans = traced.finished()
    tool_span = check_agent_run(spans, only_run(spans), errors=1)
    assert tool_span.attributes["error.type"] == "ConnectionError"


def test_with_strands_own_tracing_on_one_span_per_run_and_per_model_call(strands_tracing, traced, llm):
    assert str(forecaster(llm)("Is it warm in Lisbon?")).strip() == ANSWER
    spans = traced.finished()
    check_agent_run(spans, only_run(spans))  # no "chat", "invoke_agent" or cycle spans of Strands' beside ours


def test_strands_own_tracing_alone_doubles_the_model_calls(strands_tracing, otel, llm):
    # What the instrumentor prevents: without it, Strands' spans and the openai client's are both there.
    with scoped_telemetry(otel, PRICER):
        forecaster(llm)("Is it warm in Lisbon?")
    names = sorted(s.name for s in otel.finished())
    assert names.count("chat") == 2 and names.count("chat gpt-4o-mini") == 2


def test_the_agents_trace_attributes_are_on_our_agent_span(strands_tracing, traced, llm):
    agent = forecaster(llm)
    agent.trace_attributes = {"session.id": "s-1", "tenant": "acme"}
    agent("Is it warm in Lisbon?")
    agent_span = only_run(traced.finished())
    assert (agent_span.attributes["session.id"], agent_span.attributes["tenant"]) == ("s-1", "acme")


def test_stream_async_ends_with_its_stream(traced, llm):
    async def main() -> str:
        events = [event async for event in forecaster(llm).stream_async("Is it warm in Lisbon?")]
        return str(events[-1]["result"]).strip()

    assert asyncio.run(main()) == ANSWER
    spans = traced.finished()
    check_agent_run(spans, only_run(spans))


@pytest.mark.parametrize("shape", ["graph", "swarm"])
def test_a_graph_or_swarm_run_above_its_agents_runs(traced, llm, shape):
    if shape == "graph":
        builder = GraphBuilder()
        builder.add_node(forecaster(llm), "forecast")
        team = builder.set_graph_id("desk").set_max_node_executions(5).build()
    else:
        team = Swarm([forecaster(llm)], id="desk")
    assert team("Is it warm in Lisbon?").status.value == "completed"
    spans = traced.finished()
    (desk,) = by_name(spans, "invoke_agent desk")
    assert desk.parent is None
    (member,) = children(spans, desk)
    assert member.name == "invoke_agent forecaster"
    check_agent_run(spans, member)
    assert len(spans) == 5
    assert_rollup(desk, by_name(spans, "chat gpt-4o-mini"), tool_calls=1, errors=0)


def test_an_unnamed_agent_inside_the_users_run_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run:
        forecaster(llm, name=None)("Is it warm in Lisbon?")
    spans = traced.finished()
    (support,) = by_name(spans, "invoke_agent support")
    assert [s.name for s in children(spans, support)] == STEPS
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_uninstrument_restores_strands(otel):
    from strands.agent.agent import Agent as StrandsAgent
    from strands.tools.executors import _executor

    originals = (StrandsAgent.stream_async, _executor._run_tool, strands_tracer.Tracer.start_agent_span)
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentor = StrandsInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert StrandsAgent.stream_async is not originals[0]
        instrumentor.uninstrument()
    assert (StrandsAgent.stream_async, _executor._run_tool, strands_tracer.Tracer.start_agent_span) == originals
