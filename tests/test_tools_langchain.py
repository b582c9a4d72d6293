"""LangChain tools (``langchain-core``): real BaseTool invoke/ainvoke, with and without a ToolCall."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("langchain_core")

from langchain_core.tools import StructuredTool, ToolException, tool  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.instrumentors.agents.langchain import LangChainInstrumentor  # noqa: E402

from .scope_kit import by_name, point_map, scoped_telemetry  # noqa: E402


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
async def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


@tool
def broken(x: int) -> int:
    """Always fails."""
    raise ValueError("bad input")


def _handled(x: int) -> int:
    raise ToolException("cannot do that")


# LangChain turns the failure into a message for the model.
handled = StructuredTool.from_function(_handled, name="handled", description="Fails.", handle_tool_error=True)


@pytest.fixture
def langchain(otel):
    with scoped_telemetry(otel, capture="true", openai_client=False) as telemetry:
        instrumentor = LangChainInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def test_invoke_with_plain_input(langchain):
    assert multiply.invoke({"a": 6, "b": 7}) == 42
    span = langchain.only_span()
    assert span.name == "execute_tool multiply"
    assert span.attributes["gen_ai.tool.description"] == "Multiply two integers."
    assert span.attributes["gen_ai.tool.type"] == "function"
    assert "gen_ai.tool.call.id" not in span.attributes
    assert json.loads(span.attributes["gen_ai.tool.call.arguments"]) == {"a": 6, "b": 7}
    assert span.attributes["gen_ai.tool.call.result"] == "42"


def test_invoke_with_a_tool_call_carries_its_id(langchain):
    message = multiply.invoke({"name": "multiply", "args": {"a": 2, "b": 3}, "id": "call_abc", "type": "tool_call"})
    assert message.content == "6" and message.tool_call_id == "call_abc"
    span = langchain.only_span()
    assert span.attributes["gen_ai.tool.call.id"] == "call_abc"
    assert span.attributes["gen_ai.tool.call.result"] == "6"


def test_ainvoke(langchain):
    assert asyncio.run(shout.ainvoke({"text": "hi"})) == "HI"
    span = langchain.only_span()
    assert span.name == "execute_tool shout"


def test_exception_propagates_and_is_recorded(langchain):
    with pytest.raises(ValueError, match="bad input"):
        broken.invoke({"x": 1})
    span = langchain.only_span()
    assert span.attributes["error.type"] == "ValueError"
    assert span.status.status_code.name == "ERROR"


def test_handled_error_still_counts_as_a_failure(langchain):
    message = handled.invoke({"name": "handled", "args": {"x": 1}, "id": "call_h", "type": "tool_call"})
    assert message.status == "error"
    span = langchain.only_span()
    assert span.attributes["error.type"] == "tool_error"
    points = point_map(langchain.metric_points("agentmetrics.tool.duration"))
    assert points[(("error.type", "tool_error"), ("gen_ai.tool.name", "handled"))].count == 1


def test_decorated_function_inside_a_langchain_tool_has_one_span(langchain):
    @agentmetrics.tool(name="add")
    def add_impl(a: int, b: int) -> int:
        return a + b

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return add_impl(a, b)

    with agentmetrics.agent("calc") as run:
        assert add.invoke({"a": 1, "b": 2}) == 3
    assert run.tool_calls == 1
    assert len(by_name(langchain.finished(), "execute_tool add")) == 1


def test_uninstrument_restores(otel):
    from langchain_core.tools.base import BaseTool

    original = BaseTool.__dict__["run"]
    instrumentor = LangChainInstrumentor()
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        instrumentor.instrument(telemetry=telemetry)
        assert BaseTool.__dict__["run"] is not original
        instrumentor.uninstrument()
    assert BaseTool.__dict__["run"] is original


def test_tool_call_from_a_real_model_response_links_to_it(otel):
    """The ids of the recorded OpenAI tool calls, handed to LangChain as ToolCalls, link each tool span to the
    model span that asked for it."""
    from .scope_kit import TOOL_LOOP_IDS, WEATHER_TOOL, openai_client

    @tool
    def get_current_weather(location: str) -> str:
        """Current weather for a city."""
        return {"Seattle, WA": "50 degrees and raining", "San Francisco, CA": "70 degrees and sunny"}[location]

    with scoped_telemetry(otel) as telemetry:
        instrumentor = LangChainInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        try:
            response = openai_client().chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "What's the weather in Seattle and San Francisco today?"}],
                tools=[WEATHER_TOOL],
            )
            for call in response.choices[0].message.tool_calls:
                get_current_weather.invoke(
                    {
                        "name": call.function.name,
                        "args": json.loads(call.function.arguments),
                        "id": call.id,
                        "type": "tool_call",
                    }
                )
        finally:
            instrumentor.uninstrument()
    spans = otel.finished()
    (model,) = by_name(spans, "chat gpt-4o-mini")
    tools = by_name(spans, "execute_tool get_current_weather")
    assert [t.attributes["gen_ai.tool.call.id"] for t in tools] == TOOL_LOOP_IDS
    assert all([link.context.span_id for link in t.links] == [model.context.span_id] for t in tools)
