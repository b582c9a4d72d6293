"""Agent runs: the invoke_agent span, its children, the roll-up and the agent metrics, driven by the real
``openai`` client replaying a recorded two-step tool loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import otel_agentmetrics as agentmetrics
from otel_agentmetrics.pricing import Pricer

from .scope_kit import (
    TOOL_LOOP_IDS,
    WEATHER_TOOL,
    PerMillionPricer,
    by_name,
    openai_client,
    point_map,
    scoped_telemetry,
)

WEATHER = {"Seattle, WA": "50 degrees and raining", "San Francisco, CA": "70 degrees and sunny"}


@agentmetrics.tool
def get_current_weather(location: str) -> str:
    """Current weather for a city."""
    return WEATHER[location]


MESSAGES = [
    {"role": "system", "content": "You're a helpful assistant."},
    {"role": "user", "content": "What's the weather in Seattle and San Francisco today?"},
]


def run_loop(client) -> str:
    """The agent loop users write: call the model, run the tools it asks for, call it again."""
    messages = list(MESSAGES)
    while True:
        response = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content
        messages.append({"role": "assistant", "tool_calls": [c.model_dump() for c in message.tool_calls]})
        for call in message.tool_calls:
            result = get_current_weather(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "content": result, "tool_call_id": call.id})


# gpt-4o-mini's published price: $0.15 per million input tokens, $0.60 per million output tokens.
PRICER = PerMillionPricer(0.15, 0.60)
LOOP_COST = (75 * 0.15 + 51 * 0.60) / 1e6 + (99 * 0.15 + 25 * 0.60) / 1e6  # = 0.0000717... per hand


def test_agent_run_rolls_up_the_loop(otel):
    with scoped_telemetry(otel, PRICER), agentmetrics.agent("weather", conversation_id="conv-1") as run:
        answer = run_loop(openai_client())
    assert "Seattle" in answer
    spans = otel.finished()
    (agent_span,) = by_name(spans, "invoke_agent weather")
    models = by_name(spans, "chat gpt-4o-mini")
    tools = by_name(spans, "execute_tool get_current_weather")
    assert len(models) == 2 and len(tools) == 2
    for child in models + tools:
        assert child.parent.span_id == agent_span.context.span_id
        assert child.attributes["gen_ai.conversation.id"] == "conv-1"
        assert child.attributes["gen_ai.agent.name"] == "weather"
    attrs = agent_span.attributes
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.agent.name"] == "weather"
    assert attrs["agentmetrics.agent.model_calls"] == 2
    assert attrs["agentmetrics.agent.tool_calls"] == 2
    assert attrs["agentmetrics.agent.input_tokens"] == 75 + 99
    assert attrs["agentmetrics.agent.output_tokens"] == 51 + 25
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(0.0000717, abs=1e-12)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(LOOP_COST, rel=1e-12)
    assert attrs["agentmetrics.agent.errors"] == 0
    assert "agentmetrics.agent.unpriced_calls" not in attrs
    assert (run.model_calls, run.tool_calls, run.input_tokens, run.output_tokens) == (2, 2, 174, 76)
    (iterations,) = otel.metric_points("agentmetrics.agent.model_calls")
    assert (iterations.count, iterations.sum, dict(iterations.attributes)) == (1, 2, {"gen_ai.agent.name": "weather"})
    (run_cost,) = otel.metric_points("agentmetrics.agent.cost")
    assert run_cost.sum == pytest.approx(LOOP_COST, rel=1e-12)
    assert agent_span.kind.name == "INTERNAL"


def test_cost_per_agent_on_metrics_when_allow_listed(otel):
    with scoped_telemetry(otel, PRICER, metric_attributes=("gen_ai.agent.name",)):
        client = openai_client()
        with agentmetrics.agent("first"):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
        with agentmetrics.agent("second"):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    cost = {p.attributes["gen_ai.agent.name"]: p.sum for p in otel.metric_points("gen_ai.usage.cost")}
    assert cost == pytest.approx({"first": (75 * 0.15 + 51 * 0.60) / 1e6, "second": (99 * 0.15 + 25 * 0.60) / 1e6})


def test_agent_metrics(otel):
    with scoped_telemetry(otel, PRICER, openai_client=False):
        with agentmetrics.agent("triage"):
            pass
        with pytest.raises(KeyError), agentmetrics.agent("triage"):
            raise KeyError("x")
    duration = point_map(otel.metric_points("agentmetrics.agent.duration"))
    ok = duration[(("gen_ai.agent.name", "triage"),)]
    failed = duration[(("error.type", "KeyError"), ("gen_ai.agent.name", "triage"))]
    assert (ok.count, failed.count) == (1, 1)
    (active,) = otel.metric_points("agentmetrics.agent.active")
    assert active.value == 0 and dict(active.attributes) == {"gen_ai.agent.name": "triage"}
    (failed_span,) = [s for s in otel.finished() if s.status.status_code.name == "ERROR"]
    assert failed_span.attributes["error.type"] == "KeyError"


def test_nested_agents_roll_up_into_parents(otel):
    with scoped_telemetry(otel, PRICER):
        client = openai_client()
        with agentmetrics.agent("planner") as outer:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
            with agentmetrics.agent("worker") as inner:
                get_current_weather("Seattle, WA")
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert (inner.model_calls, inner.tool_calls, inner.input_tokens, inner.output_tokens) == (1, 1, 99, 25)
    assert (outer.model_calls, outer.tool_calls, outer.input_tokens, outer.output_tokens) == (2, 1, 174, 76)
    assert inner.cost == pytest.approx((99 * 0.15 + 25 * 0.60) / 1e6, rel=1e-12)
    assert outer.cost == pytest.approx(LOOP_COST, rel=1e-12)
    spans = otel.finished()
    (planner,) = by_name(spans, "invoke_agent planner")
    (worker,) = by_name(spans, "invoke_agent worker")
    assert worker.parent.span_id == planner.context.span_id
    assert worker.attributes["agentmetrics.agent.model_calls"] == 1
    assert worker.attributes["gen_ai.agent.name"] == "worker"  # its own name wins over the enclosing run's
    models = by_name(spans, "chat gpt-4o-mini")
    assert sorted(m.attributes["gen_ai.agent.name"] for m in models) == ["planner", "worker"]
    assert planner.attributes["agentmetrics.agent.model_calls"] == 2


def test_decorated_agents_sync_and_async(otel):
    @agentmetrics.agent("sync-agent")
    def sync_agent(location: str) -> str:
        return get_current_weather(location)

    @agentmetrics.agent("async-agent")
    async def async_agent(location: str) -> str:
        return get_current_weather(location)

    with scoped_telemetry(otel, openai_client=False):
        assert sync_agent("Seattle, WA") == "50 degrees and raining"
        assert asyncio.run(async_agent("San Francisco, CA")) == "70 degrees and sunny"
    spans = otel.finished()
    for agent_name in ("sync-agent", "async-agent"):
        (agent_span,) = by_name(spans, f"invoke_agent {agent_name}")
        (tool_span,) = [
            s
            for s in by_name(spans, "execute_tool get_current_weather")
            if s.parent.span_id == agent_span.context.span_id
        ]
        assert agent_span.attributes["agentmetrics.agent.tool_calls"] == 1


def test_children_across_threads_and_tasks(otel):
    """Tool runs in asyncio tasks and in carry_context threads belong to the run that started them."""

    async def fan_out() -> list[str]:
        @agentmetrics.tool
        async def lookup(location: str) -> str:
            await asyncio.sleep(0.01)
            return WEATHER[location]

        return await asyncio.gather(*(asyncio.create_task(lookup(loc)) for loc in WEATHER))

    with scoped_telemetry(otel, openai_client=False):
        with agentmetrics.agent("threads") as threaded, ThreadPoolExecutor(4) as pool:
            results = list(pool.map(agentmetrics.carry_context(get_current_weather), list(WEATHER) * 4))
        with agentmetrics.agent("tasks") as tasked:
            gathered = asyncio.run(fan_out())
    assert results == list(WEATHER.values()) * 4 and gathered == list(WEATHER.values())
    assert threaded.tool_calls == 8 and tasked.tool_calls == 2
    spans = otel.finished()
    (threads_span,) = by_name(spans, "invoke_agent threads")
    (tasks_span,) = by_name(spans, "invoke_agent tasks")
    assert sum(s.parent.span_id == threads_span.context.span_id for s in spans if s.parent) == 8
    assert sum(s.parent.span_id == tasks_span.context.span_id for s in spans if s.parent) == 2


def test_concurrent_runs_keep_their_own_roll_up(otel):
    """Eight runs in eight threads at once: each counts exactly its own tool calls."""
    barrier = threading.Barrier(8)
    counts: dict[int, int] = {}

    def one_run(index: int) -> None:
        with agentmetrics.agent(f"run-{index % 2}") as run:
            barrier.wait()
            for _ in range(index + 1):
                get_current_weather("Seattle, WA")
        counts[index] = run.tool_calls

    with scoped_telemetry(otel, openai_client=False):
        threads = [threading.Thread(target=one_run, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert counts == {i: i + 1 for i in range(8)}
    points = point_map(otel.metric_points("agentmetrics.tool.duration"))
    assert points[(("gen_ai.tool.name", "get_current_weather"),)].count == sum(range(1, 9))


def test_errors_inside_the_run_are_counted(otel):
    @agentmetrics.tool
    def flaky(n: int) -> int:
        if n % 2:
            raise TimeoutError("upstream timed out")
        return n

    with scoped_telemetry(otel, openai_client=False), agentmetrics.agent("retrying") as run:
        for n in range(5):
            with contextlib.suppress(TimeoutError):
                flaky(n)
    assert (run.tool_calls, run.errors) == (5, 2)
    (agent_span,) = by_name(otel.finished(), "invoke_agent retrying")
    assert agent_span.attributes["agentmetrics.agent.errors"] == 2
    assert agent_span.status.status_code.name == "UNSET"


def test_unpriced_calls_leave_cost_off(otel):
    class NoPrices(Pricer):
        def price(self, record):
            return None

    with scoped_telemetry(otel, NoPrices()), agentmetrics.agent("unpriced") as run:
        run_loop(openai_client())
    (agent_span,) = by_name(otel.finished(), "invoke_agent unpriced")
    assert run.cost is None
    assert "agentmetrics.agent.cost" not in agent_span.attributes
    assert agent_span.attributes["agentmetrics.agent.unpriced_calls"] == 2


def test_tool_call_ids_link_tool_spans_to_the_model_call(otel):
    """A tool run that carries the model's tool-call id links to the model span that asked for it."""
    from otel_agentmetrics._runs import call
    from otel_agentmetrics.tools import start_tool

    with scoped_telemetry(otel, PRICER):
        client = openai_client()
        with agentmetrics.agent("linked"):
            response = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
            for tool_call in response.choices[0].message.tool_calls:
                run = start_tool("get_current_weather", call_id=tool_call.id)
                call(run, get_current_weather, (), json.loads(tool_call.function.arguments))
    spans = otel.finished()
    (model,) = by_name(spans, "chat gpt-4o-mini")
    assert list(model.attributes["agentmetrics.response.tool_call_ids"]) == TOOL_LOOP_IDS
    tools = by_name(spans, "execute_tool get_current_weather")
    assert [t.attributes["gen_ai.tool.call.id"] for t in tools] == TOOL_LOOP_IDS
    for tool_span in tools:
        assert [link.context.span_id for link in tool_span.links] == [model.context.span_id]


def test_one_agent_object_serves_concurrent_tasks(otel):
    """A module-level ``agent(...)`` used by many tasks at once keeps each task's run apart."""
    shared = agentmetrics.agent("shared")

    async def task(n: int) -> int:
        async with shared as run:
            for _ in range(n):
                await asyncio.sleep(0)
                get_current_weather("Seattle, WA")
        return run.tool_calls

    async def main() -> list[int]:
        return await asyncio.gather(*(task(n) for n in (1, 2, 3, 4)))

    with scoped_telemetry(otel, openai_client=False):
        assert asyncio.run(main()) == [1, 2, 3, 4]
    runs = by_name(otel.finished(), "invoke_agent shared")
    assert sorted(s.attributes["agentmetrics.agent.tool_calls"] for s in runs) == [1, 2, 3, 4]
