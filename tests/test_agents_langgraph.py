"""LangGraph: a real ``create_react_agent`` graph whose ``ChatOpenAI`` model drives the real ``openai`` client against
the local stand-in server (it asks for the first tool offered, then answers from the tool's result)."""

from __future__ import annotations

import asyncio
import warnings

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("langchain_openai")

from langchain_core.tools import tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode  # noqa: E402
from langgraph.pregel.main import Pregel  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402

from .scope_kit import by_name, children, point_map  # noqa: E402

with warnings.catch_warnings():  # moved to ``langchain.agents.create_agent`` in LangGraph 1.0, still shipped
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent

# gpt-4o-mini's published prices, per million tokens: input, cached input, output.
INPUT, CACHED, OUTPUT = 0.15, 0.075, 0.60
QUESTION = {"messages": [("user", "Is it warm in Lisbon?")]}


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
def traced(otel, llm):
    telemetry = agentmetrics.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    telemetry.pricer.load()  # priced from the first call, not only once the background load is done
    try:
        yield otel
    finally:
        agentmetrics.uninstrument()


def react_agent(llm: StandInServer, tools: object = (get_weather,), **options: object):
    model = ChatOpenAI(model="gpt-4o-mini", base_url=llm.openai_url, api_key="test", max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, tools, **options)


def dollars(chat_span) -> float:
    attrs = chat_span.attributes
    cached = attrs.get("gen_ai.usage.cache_read.input_tokens", 0)
    fresh = attrs["gen_ai.usage.input_tokens"] - cached
    return (fresh * INPUT + cached * CACHED + attrs["gen_ai.usage.output_tokens"] * OUTPUT) / 1e6


def assert_rollup(agent_span, chats, tool_calls: int, errors: int) -> None:
    attrs = agent_span.attributes
    assert attrs["agentmetrics.agent.model_calls"] == len(chats)
    assert attrs["agentmetrics.agent.tool_calls"] == tool_calls
    assert attrs["agentmetrics.agent.errors"] == errors
    assert attrs["agentmetrics.agent.input_tokens"] == sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats)
    assert attrs["agentmetrics.agent.output_tokens"] == sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(sum(dollars(c) for c in chats), rel=1e-12)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(sum(c.attributes["gen_ai.usage.cost"] for c in chats))


def test_react_agent_under_instrument_alone_is_one_agent_run(traced, llm):
    result = react_agent(llm).invoke(QUESTION)
    assert result["messages"][-1].content == "Here is what I found: 22 degrees and sunny in Lisbon. Enjoy the trip!"
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent LangGraph")
    assert agent_span.parent is None and agent_span.kind.name == "INTERNAL"
    assert agent_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent_span.attributes["gen_ai.agent.name"] == "LangGraph"
    assert [s.name for s in children(spans, agent_span)] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert len(spans) == 4  # nothing else: no second span for the calls LangChain makes through openai
    first, tool_span, second = children(spans, agent_span)
    assert first.kind.name == "CLIENT" and first.attributes["gen_ai.agent.name"] == "LangGraph"
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)
    assert agent_span.status.status_code.name == "UNSET"
    (runs,) = traced.metric_points("agentmetrics.agent.duration")
    assert dict(runs.attributes) == {"gen_ai.agent.name": "LangGraph"} and runs.count == 1
    (cost,) = traced.metric_points("agentmetrics.agent.cost")
    assert cost.sum == pytest.approx(dollars(first) + dollars(second), rel=1e-12)


def test_a_failing_tool_the_graph_reports_to_the_model(traced, llm):
    agent = react_agent(llm, ToolNode([broken_weather], handle_tool_errors=True))
    result = agent.invoke(QUESTION)
    assert "weather service down" in result["messages"][-2].content  # the ToolMessage the model got
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent LangGraph")
    first, tool_span, second = children(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert tool_span.status.status_code.name == "ERROR"
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes  # the run itself answered


def test_a_failing_tool_that_ends_the_run(traced, llm):
    agent = react_agent(llm, [broken_weather])  # LangGraph's default: a tool's exception ends the run
    with pytest.raises(ConnectionError, match="weather service down"):
        agent.invoke(QUESTION)
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent LangGraph")
    first, tool_span = children(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.attributes["error.type"] == "ConnectionError"
    assert agent_span.status.status_code.name == "ERROR"
    assert_rollup(agent_span, [first], tool_calls=1, errors=1)
    points = point_map(traced.metric_points("agentmetrics.agent.duration"))
    assert points[(("error.type", "ConnectionError"), ("gen_ai.agent.name", "LangGraph"))].count == 1


def test_stream_astream_and_ainvoke_are_one_run_each(traced, llm):
    agent = react_agent(llm, name="forecaster")
    steps = list(agent.stream(QUESTION, {"configurable": {"thread_id": "t-1"}}, stream_mode="updates"))
    assert [next(iter(step)) for step in steps] == ["agent", "tools", "agent"]

    async def both() -> None:
        await agent.ainvoke(QUESTION)
        async for _ in agent.astream(QUESTION, stream_mode="values"):
            pass

    asyncio.run(both())
    spans = traced.finished()
    runs = sorted(by_name(spans, "invoke_agent forecaster"), key=lambda s: s.start_time)
    assert len(runs) == 3
    assert runs[0].attributes["gen_ai.conversation.id"] == "t-1"
    for run in runs:
        assert [s.name for s in children(spans, run)] == [
            "chat gpt-4o-mini",
            "execute_tool get_weather",
            "chat gpt-4o-mini",
        ]
        assert run.attributes["agentmetrics.agent.model_calls"] == 2


def test_a_stream_closed_early_ends_its_run(traced, llm):
    agent = react_agent(llm)

    async def first_step() -> None:
        steps = agent.astream(QUESTION, stream_mode="updates")
        async for _ in steps:
            break
        await steps.aclose()

    asyncio.run(first_step())
    sync_steps = agent.stream(QUESTION, stream_mode="updates")
    next(sync_steps)
    sync_steps.close()
    runs = by_name(traced.finished(), "invoke_agent LangGraph")
    assert [r.attributes["agentmetrics.agent.model_calls"] for r in runs] == [1, 1]
    assert all(r.status.status_code.name == "UNSET" for r in runs)


def test_the_users_agent_around_the_graph_is_the_one_agent_run(traced, llm):
    with agentmetrics.agent("research", conversation_id="c-9") as run:
        react_agent(llm).invoke(QUESTION)
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent research"]
    (agent_span,) = by_name(spans, "invoke_agent research")
    assert [s.name for s in children(spans, agent_span)] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert (run.model_calls, run.tool_calls) == (2, 1)


def test_a_named_graph_inside_the_users_agent_nests(traced, llm):
    with agentmetrics.agent("support-desk") as outer:
        react_agent(llm, name="forecaster").invoke(QUESTION)
    spans = traced.finished()
    (desk,) = by_name(spans, "invoke_agent support-desk")
    (forecaster,) = by_name(spans, "invoke_agent forecaster")
    assert forecaster.parent.span_id == desk.context.span_id
    assert (outer.model_calls, outer.tool_calls) == (2, 1)
    assert forecaster.attributes["agentmetrics.agent.model_calls"] == 2


def test_subgraphs(traced, llm):
    """A subgraph left unnamed is part of its parent's run; one named as an agent is a run of its own."""

    def parent_of(subgraph) -> object:
        builder = StateGraph(MessagesState)
        builder.add_node("worker", subgraph)
        builder.add_edge(START, "worker")
        return builder.compile(name="supervisor")

    parent_of(react_agent(llm)).invoke(QUESTION)
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent supervisor"]
    (supervisor,) = spans[-1:]
    assert supervisor.attributes["agentmetrics.agent.model_calls"] == 2
    assert len(children(spans, supervisor)) == 3
    traced.spans.clear()

    parent_of(react_agent(llm, name="researcher")).invoke(QUESTION)
    spans = traced.finished()
    (supervisor,) = by_name(spans, "invoke_agent supervisor")
    (researcher,) = by_name(spans, "invoke_agent researcher")
    assert researcher.parent.span_id == supervisor.context.span_id
    assert [s.name for s in children(spans, researcher)] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert supervisor.attributes["agentmetrics.agent.model_calls"] == 2


def test_uninstrument_restores_the_graph(otel, llm):
    original_stream, original_astream = Pregel.__dict__["stream"], Pregel.__dict__["astream"]
    agentmetrics.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    assert Pregel.__dict__["stream"] is not original_stream
    agentmetrics.uninstrument()
    assert Pregel.__dict__["stream"] is original_stream and Pregel.__dict__["astream"] is original_astream
    react_agent(llm).invoke(QUESTION)
    assert otel.finished() == []


def test_the_summary_view_shows_the_graph_as_an_agent(tmp_path, llm):
    """Through the local store exporter, the graph's run is a row of the per-agent table and a recent run."""
    import time

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_agentmetrics.summary import summary
    from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter

    store = tmp_path / "spans.sqlite3"
    exporter = LocalStoreSpanExporter(store)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = agentmetrics.instrument(tracer_provider=provider, meter_provider=MeterProvider())
    telemetry.pricer.load()
    try:
        react_agent(llm, name="forecaster").invoke(QUESTION)
    finally:
        agentmetrics.uninstrument()
        provider.shutdown()
    s = summary(store, now=time.time())
    (forecaster,) = s.by_agent
    assert (forecaster.name, forecaster.calls, forecaster.model_calls) == ("forecaster", 1, 2)
    (model,) = s.by_model
    assert model.calls == 2 and model.cost_usd > 0
    assert forecaster.cost_usd == pytest.approx(model.cost_usd, rel=1e-12)
    (run,) = s.recent_runs
    assert (run.kind, run.name, run.model_calls, run.tool_calls) == ("agent", "forecaster", 2, 1)


def test_langchain_create_agent_is_a_graph_run(traced, llm):
    """LangChain 1.x agents (``langchain.agents.create_agent``) are compiled LangGraph graphs: the same run."""
    agents = pytest.importorskip("langchain.agents")
    model = ChatOpenAI(model="gpt-4o-mini", base_url=llm.openai_url, api_key="test", max_retries=0)
    agent = agents.create_agent(model, [get_weather], name="forecaster")
    agent.invoke(QUESTION)
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    assert [s.name for s in children(spans, agent_span)] == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    assert len(spans) == 4
    assert agent_span.attributes["agentmetrics.agent.model_calls"] == 2
