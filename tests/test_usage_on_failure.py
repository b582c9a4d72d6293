"""Usage a provider reported before the call failed is recorded and priced, as the conventions ask.

Real clients over documented wire formats: an OpenAI stream whose connection breaks after its usage chunk (before
``[DONE]``), an Anthropic stream whose server sends an ``error`` event after ``message_delta`` carried the usage,
and an OpenAI stream stopped by the content filter.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .anthropic_kit import HELLO, MODEL, SONNET_4, loaded_pricer, sse, usd, wire_client
from .openai_kit import client_answering, httpx


@pytest.fixture
def instrumented(otel, monkeypatch):
    def start(opt_in=None):
        if opt_in:
            monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
        telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer())
        for cls in (OpenAIInstrumentor, AnthropicInstrumentor):
            instrumentor = cls()
            instrumentor.instrument(telemetry=telemetry)
            made.append(instrumentor)

    made: list = []
    yield start
    for instrumentor in made:
        instrumentor.uninstrument()


def _chunk(**fields):
    return {"id": "chatcmpl-cut-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18",
            **fields}  # fmt: skip


class _CutAfter(httpx.SyncByteStream):
    """A body that breaks off with a network error once ``content`` was sent (a dropped connection)."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __iter__(self):
        yield self.content
        raise httpx.ReadError("connection reset by peer")

    def close(self) -> None:
        pass


def _sse(*payloads):
    return "".join(f"data: {json.dumps(p)}\n\n" for p in payloads).encode()


GPT_4O_MINI = {"input": 0.15, "output": 0.60}


def test_openai_stream_cut_after_its_usage_chunk(instrumented, otel):
    instrumented("gen_ai_latest_experimental")
    body = _sse(
        _chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]),
        _chunk(choices=[{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]),
        _chunk(choices=[], usage={"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}),
    )  # ... and no [DONE]: the connection breaks

    def handle(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_CutAfter(body))

    client = client_answering(handle)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    with pytest.raises((httpx.ReadError, openai.APIConnectionError)):
        for _ in stream:
            pass
    span = otel.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["gen_ai.usage.input_tokens"] == 1000
    assert span.attributes["gen_ai.usage.output_tokens"] == 200
    cost = usd(1000, GPT_4O_MINI["input"]) + usd(200, GPT_4O_MINI["output"])
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(cost, rel=1e-9)
    (usage,) = otel.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert (usage.value, usage.attributes["error.type"]) == (1000, span.attributes["error.type"])
    (dollars,) = otel.metric_points("gen_ai.usage.cost")
    assert dollars.sum == pytest.approx(cost, rel=1e-9)


STARTED = {
    "id": "msg_cut_01",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 25, "output_tokens": 1},
}


def test_anthropic_error_event_after_the_usage(instrumented, otel):
    instrumented()
    body = sse(
        {"type": "message_start", "message": STARTED},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "message_delta", "delta": {"stop_reason": None, "stop_sequence": None}, "usage": {"output_tokens": 7}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )  # fmt: skip
    client = wire_client(body, sse=True)
    with pytest.raises(anthropic.APIStatusError):
        for _ in client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True):
            pass
    span = otel.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["gen_ai.usage.input_tokens"] == 25
    assert span.attributes["gen_ai.usage.output_tokens"] == 7
    cost = usd(25, SONNET_4["input"]) + usd(7, SONNET_4["output"])
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(cost, rel=1e-9)
    input_points = [
        p for p in otel.metric_points("gen_ai.client.token.usage") if p.attributes["gen_ai.token.type"] == "input"
    ]
    assert [(p.sum, "error.type" in p.attributes) for p in input_points] == [(25, True)]


def test_openai_content_filter_stop_is_priced(instrumented, otel):
    instrumented()
    body = (
        _sse(
            _chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": "I"}, "finish_reason": None}]),
            _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "content_filter"}]),
            _chunk(choices=[], usage={"prompt_tokens": 300, "completion_tokens": 1, "total_tokens": 301}),
        )
        + b"data: [DONE]\n\n"
    )

    def handle(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = client_answering(handle)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[1].choices[0].finish_reason == "content_filter"
    span = otel.only_span()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("content_filter",)
    assert span.attributes["gen_ai.usage.input_tokens"] == 300
    cost = usd(300, GPT_4O_MINI["input"]) + usd(1, GPT_4O_MINI["output"])
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(cost, rel=1e-9)
