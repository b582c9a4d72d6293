"""LangChain chat models: one span per model call whatever the layers.

A custom ``BaseChatModel`` whose backend no client instrumentor sees is recorded from what LangChain reports
(``usage_metadata``, ``response_metadata``, tool calls); ``ChatOpenAI``, whose ``openai`` client is instrumented,
gets the client's span only."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, AIMessageChunk  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from otel_agentmetrics.instrumentors.agents.langchain import LangChainInstrumentor  # noqa: E402
from otel_agentmetrics.instrumentors.agents.langgraph import LangGraphInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, by_name, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)
CALL_ID = "call_standin_1"


def usage(inputs: int, outputs: int, cached: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inputs,
        "output_tokens": outputs,
        "total_tokens": inputs + outputs,
        "input_token_details": {"cache_read": cached},
    }


class InHouseChat(BaseChatModel):
    """A chat model that talks to its backend by itself (here: answers from a script), as in-house wrappers do."""

    script: list[AIMessage]
    delay: float = 0.02
    fail: bool = False

    @property
    def _llm_type(self) -> str:
        return "in-house"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "in-house", "ls_model_name": "house-1", "ls_model_type": "chat", "ls_temperature": 0.2}

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        time.sleep(self.delay)
        if self.fail:
            raise TimeoutError("backend timed out")
        return ChatResult(generations=[ChatGeneration(message=self.script.pop(0))])

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        answer = self.script.pop(0)
        words = str(answer.content).split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            chunk = AIMessageChunk(
                content=word if i == 0 else " " + word,
                usage_metadata=answer.usage_metadata if last else None,
                response_metadata=answer.response_metadata if last else {},
            )
            yield ChatGenerationChunk(message=chunk)


def answer(text: str, inputs: int, outputs: int, cached: int = 0) -> AIMessage:
    meta = {"model_name": "house-1-2026", "finish_reason": "stop", "id": "resp-1"}
    return AIMessage(content=text, usage_metadata=usage(inputs, outputs, cached), response_metadata=meta)


def tool_request() -> AIMessage:
    meta = {"model_name": "house-1-2026", "finish_reason": "tool_calls"}
    calls = [{"name": "get_weather", "args": {"city": "Lisbon"}, "id": CALL_ID, "type": "tool_call"}]
    return AIMessage(content="", tool_calls=calls, usage_metadata=usage(50, 10), response_metadata=meta)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


@pytest.fixture
def traced(otel):
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentors = [LangChainInstrumentor(), LangGraphInstrumentor()]
        for instrumentor in instrumentors:
            instrumentor.instrument(telemetry=telemetry)
        yield otel
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


def test_a_model_no_client_instrumentor_sees_is_recorded_from_its_usage(traced):
    model = InHouseChat(script=[answer("Mild and sunny.", 120, 8, cached=64)])
    assert model.invoke("Is it warm in Lisbon?").content == "Mild and sunny."
    span = traced.only_span()
    assert span.name == "chat house-1" and span.kind.name == "CLIENT"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "in-house"
    assert attrs["gen_ai.request.model"] == "house-1"
    assert attrs["gen_ai.response.model"] == "house-1-2026"
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (120, 8)
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 64
    assert attrs["gen_ai.usage.cost"] == pytest.approx((120 * 0.15 + 8 * 0.60) / 1e6, rel=1e-12)
    assert (span.end_time - span.start_time) / 1e9 >= 0.02  # from when the call began, not when it was recorded
    (duration,) = traced.metric_points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.sum >= 0.02


def test_a_failing_model_is_a_failed_call(traced):
    model = InHouseChat(script=[], fail=True)
    with pytest.raises(TimeoutError, match="backend timed out"):
        model.invoke("hello")
    span = traced.only_span()
    assert span.name == "chat house-1"
    assert span.attributes["error.type"] == "TimeoutError"
    assert span.status.status_code.name == "ERROR"


def test_a_stream_is_one_call_with_the_usage_of_its_chunks(traced):
    model = InHouseChat(script=[answer("Mild and sunny today.", 40, 6)])
    text = "".join(str(chunk.content) for chunk in model.stream("Is it warm?"))
    assert text == "Mild and sunny today."
    span = traced.only_span()
    assert span.attributes["gen_ai.request.stream"] is True
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (40, 6)

    async def astream() -> str:
        model.script.append(answer("Still mild.", 12, 3))
        return "".join([str(chunk.content) async for chunk in model.astream("And now?")])

    assert asyncio.run(astream()) == "Still mild."
    spans = by_name(traced.finished(), "chat house-1")
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [40, 12]


def test_ainvoke_and_batch_are_one_call_each(traced):
    model = InHouseChat(script=[answer("a", 10, 1), answer("b", 20, 2), answer("c", 30, 3)])
    asyncio.run(model.ainvoke("one"))
    model.batch(["two", "three"])
    spans = by_name(traced.finished(), "chat house-1")
    assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in spans) == [10, 20, 30]


def test_react_agent_with_an_in_house_model(traced):
    pytest.importorskip("langgraph")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

        model = InHouseChat(script=[tool_request(), answer("It is 22 degrees in Lisbon.", 90, 12)])
        graph = create_react_agent(model, [get_weather], name="forecaster")
    graph.invoke({"messages": [("user", "Is it warm in Lisbon?")]})
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    kids = sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == agent_span.context.span_id),
        key=lambda s: s.start_time,
    )
    assert [s.name for s in kids] == ["chat house-1", "execute_tool get_weather", "chat house-1"]
    first, tool_span, _ = kids
    assert list(first.attributes["agentmetrics.response.tool_call_ids"]) == [CALL_ID]
    assert tool_span.attributes["gen_ai.tool.call.id"] == CALL_ID
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (2, 1)
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (140, 22)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx((140 * 0.15 + 22 * 0.60) / 1e6, rel=1e-12)


def test_chat_openai_is_the_openai_clients_span_only(traced):
    """The client is instrumented: its span is the call, the LangChain layer adds none (plain and streamed)."""
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    from otel_agentmetrics.demo.server import StandInServer

    with StandInServer(latency=(0.0, 0.0)) as server:
        model = ChatOpenAI(model="gpt-4o-mini", base_url=server.openai_url, api_key="test", stream_usage=True)
        model.invoke("Is it warm in Lisbon?")
        assert "".join(str(c.content) for c in model.stream("Is it warm in Lisbon?"))
        asyncio.run(model.ainvoke("Is it warm in Lisbon?"))
    spans = traced.finished()
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 3
    assert [s.attributes.get("gen_ai.request.stream", False) for s in spans] == [False, True, False]
    assert all(s.attributes["gen_ai.provider.name"] == "openai" for s in spans)
