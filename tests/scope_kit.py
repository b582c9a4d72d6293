"""Test kit for tools, agent runs, attribution and budgets: a Telemetry on the test's in-memory providers,
made the one that decorators and scopes report to (what ``instrument()`` does), and replayed OpenAI calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from otel_agentmetrics import _active
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.pricing import Cost, Pricer

from .replay import Cassette, http_module_of

# The recorded two-step tool loop: the model asks for two tool calls, then answers from their results.
TOOL_LOOP = "openai/test_chat_completion_tool_calls_with_content"
TOOL_LOOP_IDS = ["call_JpNb8OiAkbIbHzDggfpdDHpi", "call_vaFQc3zK6hHTRZKXRI5Eo2cJ"]
TOOL_LOOP_USAGE = [(75, 51), (99, 25)]  # (prompt, completion) tokens of the two recorded responses


class PerMillionPricer(Pricer):
    """Test pricer: fixed dollars per million input and output tokens (budgets are what is under test)."""

    def __init__(self, input_per_million: float, output_per_million: float) -> None:
        self.rates = (input_per_million, output_per_million)

    def price(self, record: Any) -> Cost | None:
        if record.input_tokens is None:
            return None
        usd = (record.input_tokens * self.rates[0] + (record.output_tokens or 0) * self.rates[1]) / 1_000_000
        return Cost(usd, "test")


@contextmanager
def scoped_telemetry(
    otel: Any,
    pricer: Pricer | None = None,
    capture: str | None = None,
    metric_attributes: tuple[str, ...] = (),
    max_values: int = 100,
    openai_client: bool = True,
) -> Iterator[Telemetry]:
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, capture, pricer)
    telemetry.labels.configure(metric_attributes, max_values)
    _active.use(telemetry)
    instrumentor = OpenAIInstrumentor()
    if openai_client:
        instrumentor.instrument(telemetry=telemetry)
    try:
        yield telemetry
    finally:
        if openai_client:
            instrumentor.uninstrument()
        _active.use(None)


def openai_client(cassette: str = TOOL_LOOP, async_: bool = False) -> Any:
    httpx = http_module_of(openai)
    recorded = Cassette(cassette)
    transport = recorded.transport(httpx)
    client: Any
    if async_:
        client = openai.AsyncOpenAI(api_key="test_openai_api_key", http_client=httpx.AsyncClient(transport=transport))
    else:
        client = openai.OpenAI(api_key="test_openai_api_key", http_client=httpx.Client(transport=transport))
    client.cassette = recorded  # what the tests check was (not) sent
    return client


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def by_name(spans: list[Any], name: str) -> list[Any]:
    return [span for span in spans if span.name == name]


def point_map(points: list[Any]) -> dict[tuple[tuple[str, Any], ...], Any]:
    """Metric points keyed by their sorted attributes."""
    return {tuple(sorted(point.attributes.items())): point for point in points}


def children(spans: Any, parent: Any) -> list[Any]:
    """The finished spans whose parent is ``parent``, in start order."""
    return sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
        key=lambda s: s.start_time,
    )


def assert_rollup(agent_span: Any, chats: Any, tool_calls: int, errors: int) -> None:
    """An agent span's roll-up matches its model calls (gpt-4o-mini test prices: $0.15/$0.60 per million)."""
    attrs = agent_span.attributes
    tokens_in = sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats)
    tokens_out = sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats)
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (len(chats), tool_calls)
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (
        tokens_in,
        tokens_out,
    )
    assert attrs["agentmetrics.agent.errors"] == errors
    assert attrs["agentmetrics.agent.cost"] == pytest.approx((tokens_in * 0.15 + tokens_out * 0.60) / 1e6, rel=1e-12)


def instrumented(otel: Any, instrumentor: Any, pricer: Pricer | None = None, **scope: Any) -> Iterator[Any]:
    """The body of a test's ``traced`` fixture (``yield from instrumented(otel, XInstrumentor(), PRICER)``): the
    instrumentor on, on a :func:`scoped_telemetry`, while the test runs."""
    with scoped_telemetry(otel, pricer, **scope) as telemetry:
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def only_agent_run(spans: list[Any], name: str, count: int) -> Any:
    """The one span named ``name``, a root, among ``count`` spans in all."""
    (agent_span,) = by_name(spans, name)
    assert agent_span.parent is None
    assert len(spans) == count, [s.name for s in spans]
    return agent_span


def check_tool_loop(spans: list[Any], agent_span: Any, steps: list[str], errors: int = 0) -> Any:
    """``agent_span`` above ``steps``: a model call asking for one tool, the tool run (with that call's id, linked to
    it), the model call that answers; rolled up. Returns the tool span."""
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == steps
    (call_id,) = kids[0].attributes["agentmetrics.response.tool_call_ids"]
    assert kids[1].attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in kids[1].links] == [kids[0].context.span_id]
    assert_rollup(agent_span, [kids[0], kids[2]], tool_calls=1, errors=errors)
    return kids[1]
