"""Cohere v2 through the real ``cohere`` client (``ClientV2`` / ``AsyncClientV2``).

No recorded Cohere traffic is shared, so the responses below are built from Cohere's documented wire format
(https://docs.cohere.com/reference/chat, https://docs.cohere.com/reference/chat-stream,
https://docs.cohere.com/v2/docs/streaming and https://docs.cohere.com/reference/embed: typed SSE events from
``message-start`` to ``message-end``, whose delta carries ``finish_reason`` and ``usage``) and served through the
client's own httpx transport.
"""

from __future__ import annotations

import gc
import json

import cohere
import httpx
import pytest

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.cohere import CohereInstrumentor

from .wire_format import Wire, cost_points, loaded_pricer, typed_sse, usd

MODEL = "command-a-03-2025"
MESSAGES = [{"role": "user", "content": "Tell me about LLMs"}]
USAGE = {
    "billed_units": {"input_tokens": 5, "output_tokens": 418},
    "tokens": {"input_tokens": 71, "output_tokens": 418},
}

CHAT = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "LLMs stand for Large Language Models."}]},
    "usage": USAGE,
}
STREAM = typed_sse(
    [
        {
            "type": "message-start",
            "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
            "delta": {"message": {"role": "assistant"}},
        },
        {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "LLMs"}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " are big."}}}},
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}},
    ]
)
EMBED = {
    "id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
    "embeddings": {"float": [[0.016296387, -0.008354187, -0.04699707]]},
    "texts": ["hello"],
    "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 1}},
    "response_type": "embeddings_by_type",
}


@pytest.fixture
def instrumented(otel):
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer()))
    yield otel
    instrumentor.uninstrument()


def clients(wire: Wire) -> tuple[cohere.ClientV2, cohere.AsyncClientV2]:
    return (
        cohere.ClientV2(api_key="test", httpx_client=httpx.Client(transport=wire.transport())),
        cohere.AsyncClientV2(api_key="test", httpx_client=httpx.AsyncClient(transport=wire.transport())),
    )


def test_chat(instrumented):
    wire = Wire(httpx).reply(CHAT)
    client, _ = clients(wire)
    response = client.chat(model=MODEL, messages=MESSAGES, p=0.75, k=10, seed=1, stop_sequences=["END"])
    assert response.message.content[0].text.startswith("LLMs")
    span = instrumented.only_span()
    assert span.name == f"chat {MODEL}"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "cohere"
    assert attrs["server.address"] == "api.cohere.com"
    assert attrs["server.port"] == 443
    assert attrs["gen_ai.request.top_p"] == 0.75
    assert attrs["gen_ai.request.top_k"] == 10
    assert attrs["gen_ai.request.seed"] == 1
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert "gen_ai.request.temperature" not in attrs  # OMIT is not a value
    assert attrs["gen_ai.response.id"] == CHAT["id"]
    assert attrs["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert attrs["gen_ai.usage.input_tokens"] == 5  # billed units, not the 71 tokens with the system preamble
    assert attrs["gen_ai.usage.output_tokens"] == 418
    assert isinstance(attrs["gen_ai.usage.input_tokens"], int)
    # Cohere's published price for Command A: $2.50 input, $10.00 output per million tokens.
    expected = usd(5, 2.50) + usd(418, 10.00)
    assert attrs["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-9)
    assert cost_points(instrumented) == [pytest.approx(expected, rel=1e-9)]


def test_chat_stream(instrumented):
    wire = Wire(httpx).stream(STREAM)
    client, _ = clients(wire)
    events = list(client.chat_stream(model=MODEL, messages=MESSAGES))
    assert [e.type for e in events][0] == "message-start"
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "29f14a5a-11de-4cae-9800-25e4747408ea"
    assert attrs["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert attrs["gen_ai.usage.input_tokens"] == 5
    assert attrs["gen_ai.usage.output_tokens"] == 418
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


async def test_async_chat_stream_and_chat(instrumented):
    wire = Wire(httpx).stream(STREAM).reply(CHAT)
    _, client = clients(wire)
    async for event in client.chat_stream(model=MODEL, messages=MESSAGES):
        assert event.type
    await client.chat(model=MODEL, messages=MESSAGES)
    streamed, plain = instrumented.finished()
    assert streamed.attributes["gen_ai.request.stream"] is True
    assert streamed.attributes["gen_ai.usage.output_tokens"] == 418
    assert "gen_ai.request.stream" not in plain.attributes


def test_stream_broken_off_ends_once(instrumented):
    wire = Wire(httpx).stream(STREAM)
    client, _ = clients(wire)
    stream = client.chat_stream(model=MODEL, messages=MESSAGES)
    for event in stream:
        if event.type == "content-delta":
            break
    stream.close()
    del stream
    gc.collect()
    span = instrumented.only_span()
    assert span.attributes["gen_ai.response.id"] == "29f14a5a-11de-4cae-9800-25e4747408ea"
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_stream_error_status(instrumented):
    wire = Wire(httpx).reply({"message": "invalid api token"}, status=401)
    client, _ = clients(wire)
    with pytest.raises(cohere.errors.UnauthorizedError):
        for _ in client.chat_stream(model=MODEL, messages=MESSAGES):
            pass
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "UnauthorizedError"


def test_embed(instrumented):
    wire = Wire(httpx).reply(EMBED)
    client, _ = clients(wire)
    client.embed(model="embed-v4.0", texts=["hello"], input_type="classification", embedding_types=["float"])
    span = instrumented.only_span()
    assert span.name == "embeddings embed-v4.0"
    assert span.attributes["gen_ai.usage.input_tokens"] == 1
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert span.attributes["gen_ai.request.encoding_formats"] == ("float",)
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(usd(1, 0.12), rel=1e-9)  # Embed 4: $0.12/M


def test_content_with_the_switch(otel):
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True))
    try:
        client, _ = clients(Wire(httpx).reply(CHAT).stream(STREAM))
        client.chat(model=MODEL, messages=MESSAGES)
        list(client.chat_stream(model=MODEL, messages=MESSAGES))
    finally:
        instrumentor.uninstrument()
    plain, streamed = otel.finished()
    assert json.loads(plain.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me about LLMs"}]}
    ]
    assert json.loads(plain.attributes["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "LLMs stand for Large Language Models."}
    ]
    assert json.loads(streamed.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "LLMs are big."}], "finish_reason": "COMPLETE"}
    ]


TOOL_STREAM = typed_sse(
    [
        {
            "type": "message-start",
            "id": "5b3a5e3c-0f6c-4b43-9bd4-3b6a7b1f1d2e",
            "delta": {"message": {"role": "assistant"}},
        },
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look up the weather."}}},
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_weather_nsz5zm3w56q3",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                }
            },
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"location":'}}}},
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '"Toronto"}'}}}},
        },
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": USAGE}},
    ]
)


def test_streamed_tool_call(otel):
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True))
    try:
        client, _ = clients(Wire(httpx).stream(TOOL_STREAM))
        list(client.chat_stream(model=MODEL, messages=MESSAGES))
    finally:
        instrumentor.uninstrument()
    attrs = otel.only_span().attributes
    assert attrs["agentmetrics.response.tool_call_ids"] == ("get_weather_nsz5zm3w56q3",)
    assert attrs["gen_ai.response.finish_reasons"] == ("TOOL_CALL",)
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"] == [
        {
            "type": "tool_call",
            "id": "get_weather_nsz5zm3w56q3",
            "name": "get_weather",
            "arguments": '{"location":"Toronto"}',
        }
    ]


async def test_async_embed(instrumented):
    _, client = clients(Wire(httpx).reply(EMBED))
    await client.embed(model="embed-v4.0", texts=["hello"], input_type="search_query", embedding_types=["float"])
    span = instrumented.only_span()
    assert span.name == "embeddings embed-v4.0"
    assert span.attributes["gen_ai.provider.name"] == "cohere"
    assert span.attributes["gen_ai.usage.input_tokens"] == 1
