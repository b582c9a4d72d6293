"""Groq through the real ``groq`` client.

No recorded Groq traffic is shared, so the responses below are built from Groq's documented wire format
(https://console.groq.com/docs/api-reference#chat-create: an OpenAI-shaped ``chat.completion``; streamed
``chat.completion.chunk`` events whose last chunk carries ``x_groq.usage``) and served through the client's own
httpx transport.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import groq
import httpx
import pytest

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.groq import GroqInstrumentor

from .wire_format import Wire, cost_points, loaded_pricer, sse, usd

MODEL = "llama-3.3-70b-versatile"

COMPLETION = {
    "id": "chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22",
    "object": "chat.completion",
    "created": 1730241104,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Fast language models matter."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "queue_time": 0.037493756,
        "prompt_tokens": 18,
        "prompt_time": 0.000680594,
        "completion_tokens": 556,
        "completion_time": 0.463333333,
        "total_tokens": 574,
        "total_time": 0.464013927,
    },
    "system_fingerprint": "fp_179b0f92c9",
    "x_groq": {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"},
}


def chunk(content: str | None, finish: str | None = None, usage: dict | None = None) -> dict:
    delta = {} if content is None else {"content": content}
    body = {
        "id": "chatcmpl-3f1b8e4c",
        "object": "chat.completion.chunk",
        "created": 1730241104,
        "model": MODEL,
        "system_fingerprint": "fp_179b0f92c9",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["x_groq"] = {"id": "req_01jbd6g2", "usage": usage}
    return body


STREAM = sse(
    [
        chunk(""),
        chunk("Hello"),
        chunk(" there"),
        chunk(None, "stop", {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}),
    ]
)
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def instrumented(otel):
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(
        telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=False, pricer=loaded_pricer())
    )
    yield otel
    instrumentor.uninstrument()


def clients(wire: Wire) -> tuple[groq.Groq, groq.AsyncGroq]:
    return (
        groq.Groq(api_key="test", http_client=httpx.Client(transport=wire.transport()), max_retries=0),
        groq.AsyncGroq(api_key="test", http_client=httpx.AsyncClient(transport=wire.transport()), max_retries=0),
    )


def test_chat_completion(instrumented):
    wire = Wire(httpx).reply(COMPLETION)
    client, _ = clients(wire)
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=600, seed=7)
    assert isinstance(response, groq.types.chat.ChatCompletion)
    assert response.choices[0].message.content == "Fast language models matter."
    span = instrumented.only_span()
    assert span.name == f"chat {MODEL}"
    assert span.kind.name == "CLIENT"
    attrs = span.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "groq"
    assert attrs["gen_ai.system"] == "groq"
    assert attrs["server.address"] == "api.groq.com"
    assert attrs["server.port"] == 443
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 600
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.response.id"] == COMPLETION["id"]
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 18
    assert attrs["gen_ai.usage.output_tokens"] == 556
    # Groq's published price for Llama 3.3 70B Versatile: $0.59 input, $0.79 output per million tokens.
    expected = usd(18, 0.59) + usd(556, 0.79)
    assert attrs["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-9)
    assert attrs["operation.cost"] == pytest.approx(expected, rel=1e-9)
    assert attrs["agentmetrics.cost.source"].startswith("genai-prices==")
    assert cost_points(instrumented) == [pytest.approx(expected, rel=1e-9)]
    assert "gen_ai.input.messages" not in attrs  # content is off by default
    assert "gen_ai.request.stream" not in attrs
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in instrumented.metric_points("gen_ai.client.token.usage")}
    assert tokens == {"input": 18, "output": 556}
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["gen_ai.provider.name"] == "groq"
    assert duration.count == 1


def test_stream_reads_usage_from_x_groq(instrumented):
    wire = Wire(httpx).stream(STREAM)
    client, _ = clients(wire)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "Hello there"
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.usage.cost"] == pytest.approx(usd(12, 0.59) + usd(3, 0.79), rel=1e-9)
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.id"] == "chatcmpl-3f1b8e4c"
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert len(instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")) == 1
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == 3  # four chunks: the first is timed apart


async def test_async_stream_and_completion(instrumented):
    wire = Wire(httpx).stream(STREAM).reply(COMPLETION)
    _, client = clients(wire)
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(stream, groq.AsyncStream)  # the proxy keeps the type the user expects
    chunks = [c async for c in stream]
    assert len(chunks) == 4
    response = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert response.usage.completion_tokens == 556
    first, second = instrumented.finished()
    assert first.attributes["gen_ai.usage.output_tokens"] == 3
    assert second.attributes["gen_ai.usage.output_tokens"] == 556


def test_stream_left_by_break_ends_once(instrumented):
    wire = Wire(httpx).stream(STREAM)
    client, _ = clients(wire)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    for _ in stream:
        break
    assert instrumented.finished() == []  # still open: the user may come back to it
    del stream
    gc.collect()
    span = instrumented.only_span()
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-3f1b8e4c"
    assert "gen_ai.usage.output_tokens" not in span.attributes  # never seen, so never recorded as zero
    assert "gen_ai.usage.cost" not in span.attributes  # and no cost of 0 either


def test_stream_closed_in_with_block(instrumented):
    wire = Wire(httpx).stream(STREAM)
    client, _ = clients(wire)
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
    span = instrumented.only_span()
    assert span.status.is_ok
    stream.close()
    gc.collect()
    assert len(instrumented.finished()) == 1


def test_error_status(instrumented):
    wire = Wire(httpx).reply({"error": {"message": "Rate limit reached", "type": "tokens"}}, status=429)
    client, _ = clients(wire)
    with pytest.raises(groq.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "RateLimitError"
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "RateLimitError"


def test_content_only_with_the_switch(otel):
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True))
    try:
        wire = Wire(httpx).reply(COMPLETION).stream(STREAM)
        client, _ = clients(wire)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    plain, streamed = otel.finished()
    assert json.loads(plain.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]}
    ]
    assert json.loads(plain.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Fast language models matter."}],
            "finish_reason": "stop",
        }
    ]
    assert json.loads(streamed.attributes["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "Hello there"}
    ]


def test_uninstrument_restores(otel):
    instrumentor = GroqInstrumentor()
    original = groq.resources.chat.completions.Completions.create
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider))
    assert groq.resources.chat.completions.Completions.create is not original
    instrumentor.uninstrument()
    assert groq.resources.chat.completions.Completions.create is original
    client, _ = clients(Wire(httpx).reply(COMPLETION))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert otel.finished() == []


class _CutSync(httpx.SyncByteStream):
    """A response body that stops with a network error after its first bytes."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self):
        yield self.head
        raise httpx.ReadError("connection reset mid-stream")


class _CutAsync(httpx.AsyncByteStream):
    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __aiter__(self):
        yield self.head
        raise httpx.ReadError("connection reset mid-stream")


HEAD = sse([chunk(""), chunk("Hello")], done=False)


def _cut_transport(body: Any) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
    )


def test_stream_cut_mid_way_fails_the_span_and_reraises(instrumented):
    client = groq.Groq(
        api_key="test", http_client=httpx.Client(transport=_cut_transport(_CutSync(HEAD))), max_retries=0
    )
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    seen = []
    with pytest.raises(httpx.ReadError):
        for item in stream:
            seen.append(item)
    assert len(seen) == 2  # the user saw every chunk that arrived
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-3f1b8e4c"
    stream.close()
    del stream
    gc.collect()
    assert len(instrumented.finished()) == 1  # ended once


async def test_async_stream_cut_mid_way(instrumented):
    transport = _cut_transport(_CutAsync(HEAD))
    client = groq.AsyncGroq(api_key="test", http_client=httpx.AsyncClient(transport=transport), max_retries=0)
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(httpx.ReadError):
        async for _ in stream:
            pass
    span = instrumented.only_span()
    assert span.attributes["error.type"] == "ReadError"


async def test_async_stream_abandoned_is_ended_by_gc(instrumented):
    wire = Wire(httpx).stream(STREAM)
    _, client = clients(wire)
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async for _ in stream:
        break
    assert instrumented.finished() == []
    del stream
    gc.collect()
    assert len(instrumented.finished()) == 1


def tool_chunk(tool_call: dict, finish: str | None = None) -> dict:
    body = chunk(None, finish)
    body["choices"][0]["delta"] = {"tool_calls": [tool_call]}
    return body


TOOL_STREAM = sse(
    [
        tool_chunk(
            {"index": 0, "id": "call_abc123", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        ),
        tool_chunk({"index": 0, "function": {"arguments": '{"city": '}}),
        tool_chunk({"index": 0, "function": {"arguments": '"Paris"}'}}),
        tool_chunk(
            {"index": 1, "id": "call_def456", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ),
        chunk(None, "tool_calls", {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60}),
    ]
)


def test_streamed_tool_calls(otel):
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True))
    try:
        client, _ = clients(Wire(httpx).stream(TOOL_STREAM))
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    attrs = otel.only_span().attributes
    assert attrs["agentmetrics.response.tool_call_ids"] == ("call_abc123", "call_def456")
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_abc123", "name": "get_weather", "arguments": '{"city": "Paris"}'},
                {"type": "tool_call", "id": "call_def456", "name": "get_time", "arguments": "{}"},
            ],
            "finish_reason": "tool_calls",
        }
    ]
