"""LlamaIndex LLMs that no client instrumentor sees: a real ``CustomLLM`` (the LLM's backend is in-process, the way
a local model or an integration that talks HTTP by itself would be) through the real ``llama-index-core``, alone
and driving a real ``ReActAgent``; and one that calls the real ``openai`` client against the stand-in server, whose
span is the call (no second one)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

import openai  # noqa: E402
from llama_index.core.agent.workflow import ReActAgent  # noqa: E402
from llama_index.core.llms import ChatMessage, CompletionResponse, CustomLLM, LLMMetadata  # noqa: E402
from llama_index.core.llms.callbacks import llm_completion_callback  # noqa: E402
from llama_index.core.tools import FunctionTool  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.llamaindex import LlamaIndexInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, by_name, children, instrumented, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(1.0, 2.0)  # dollars per million input / output tokens
FIRST, SECOND = (100, 20), (140, 12)  # the (input, output) tokens the LLM reports for its two answers


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


class LocalLLM(CustomLLM):
    """A ReAct-speaking local model: asks for the first tool, then answers from its observation."""

    model: str = "local-7b"
    fail: bool = False
    client: Any = None  # an openai client to call instead (the instrumented-client case)
    base_url: str = ""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model)

    def _answer(self, prompt: str) -> CompletionResponse:
        if self.fail:
            raise ConnectionError("model backend down")
        if self.client is not None:
            reply = self.client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
            )
            return CompletionResponse(text=reply.choices[0].message.content, raw=reply.model_dump())
        if "22 degrees" in prompt or "service down" in prompt:  # the tool's observation came back
            text, (i, o) = "Thought: I can answer without using any more tools.\nAnswer: 22 degrees in Lisbon.", SECOND
        else:
            text, (i, o) = 'Thought: I need the weather.\nAction: get_weather\nAction Input: {"city": "Lisbon"}', FIRST
        return CompletionResponse(text=text, delta=text, additional_kwargs={"prompt_tokens": i, "completion_tokens": o})

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._answer(prompt)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        yield self._answer(prompt)


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, LlamaIndexInstrumentor(), PRICER)


def dollars(tokens: tuple[int, int]) -> float:
    return (tokens[0] * 1.0 + tokens[1] * 2.0) / 1e6


def assert_call(span: Any, tokens: tuple[int, int]) -> None:
    attrs = span.attributes
    assert span.name == "chat local-7b" and span.kind.name == "CLIENT"
    assert attrs["gen_ai.provider.name"] == "custom_llm"  # the LLM's class_name()
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == tokens
    assert attrs["gen_ai.usage.cost"] == pytest.approx(dollars(tokens), rel=1e-12)


def test_complete_chat_and_stream_are_one_span_each(traced):
    llm = LocalLLM()
    assert llm.complete("Is it warm in Lisbon?").text.startswith("Thought: I need the weather.")
    assert llm.chat([ChatMessage(role="user", content="Observation: 22 degrees")]).message.content.endswith("Lisbon.")
    assert "".join(c.delta for c in llm.stream_complete("Is it warm in Lisbon?")).startswith("Thought")
    spans = sorted(traced.finished(), key=lambda s: s.start_time)
    assert len(spans) == 3  # chat() goes through complete(): still one call, not two
    assert_call(spans[0], FIRST)
    assert_call(spans[1], SECOND)
    assert_call(spans[2], FIRST)
    assert spans[2].start_time < spans[2].end_time


def test_a_react_agent_on_a_custom_llm(traced):
    async def go() -> str:
        agent = ReActAgent(tools=[get_weather], llm=LocalLLM(), name="forecaster")
        return str(await agent.run(user_msg="Is it warm in Lisbon?"))

    assert asyncio.run(go()) == "22 degrees in Lisbon."
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == ["chat local-7b", "execute_tool get_weather", "chat local-7b"]
    assert len(spans) == 4
    assert_call(kids[0], FIRST)
    assert_call(kids[2], SECOND)
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (2, 1)
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (240, 32)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(dollars(FIRST) + dollars(SECOND), rel=1e-12)
    assert attrs["agentmetrics.agent.errors"] == 0


def test_a_failing_tool_and_a_failing_llm(traced):
    async def go(llm: LocalLLM, tool: Any) -> str:
        return str(await ReActAgent(tools=[tool], llm=llm, name="forecaster").run(user_msg="Is it warm in Lisbon?"))

    broken = FunctionTool.from_defaults(broken_weather, name="get_weather")
    assert asyncio.run(go(LocalLLM(), broken)) == "22 degrees in Lisbon."  # the error is its observation
    with pytest.raises(ConnectionError, match="model backend down"):
        asyncio.run(go(LocalLLM(fail=True), get_weather))
    spans = traced.finished()
    handed, failed = sorted(by_name(spans, "invoke_agent forecaster"), key=lambda s: s.start_time)
    first, tool_span, second = children(spans, handed)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert handed.attributes["agentmetrics.agent.errors"] == 1
    (call,) = children(spans, failed)
    assert call.name == "chat local-7b" and call.attributes["error.type"] == "ConnectionError"
    assert call.status.status_code.name == "ERROR"
    assert failed.attributes["agentmetrics.agent.model_calls"] == 1
    assert failed.attributes["error.type"] == "ConnectionError"


def test_an_llm_that_calls_an_instrumented_client_is_that_clients_span(traced):
    with StandInServer(latency=(0.0, 0.0)) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key="test", max_retries=0)
        LocalLLM(client=client).complete("Is it warm in Lisbon?")
    (span,) = traced.finished()
    assert span.name == "chat gpt-4o-mini" and span.attributes["gen_ai.provider.name"] == "openai"


def test_uninstrument_records_nothing(otel):
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = LlamaIndexInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        instrumentor.uninstrument()
        LocalLLM().complete("Is it warm in Lisbon?")
    assert otel.finished() == []
