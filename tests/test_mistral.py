"""Mistral AI through the real ``mistralai`` client.

No recorded Mistral traffic is shared, so the responses below are built from Mistral's documented wire format
(https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post and
https://docs.mistral.ai/api/#tag/embeddings: OpenAI-shaped ``chat.completion`` bodies, streamed
``chat.completion.chunk`` events with ``usage`` on the last one, ``[DONE]`` at the end) and served through the
client's own httpx transport.
"""

from __future__ import annotations

import gc

import pytest
from mistralai.client import Mistral, basesdk, errors

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.mistralai import MistralAIInstrumentor

from .wire_format import Wire, cost_points, loaded_pricer, sse, usd

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "user", "content": "Who is the best French painter? Answer in one short sentence."}]

COMPLETION = {
    "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
    "object": "chat.completion",
    "model": "mistral-small-2506",
    "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50},
    "created": 1702256327,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "D681PevKs", "type": "function", "function": {"name": "get_painter", "arguments": "{}"}}
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
}


def chunk(content: str, finish: str | None = None, usage: dict | None = None) -> dict:
    body: dict = {
        "id": "6a3b2f1e9c4d4a7f8e2b1c0d9e8f7a6b",
        "object": "chat.completion.chunk",
        "created": 1702256327,
        "model": "mistral-small-2506",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


STREAM = sse(
    [
        chunk(""),
        chunk("Claude Monet"),
        chunk(".", "stop", {"prompt_tokens": 16, "completion_tokens": 5, "total_tokens": 21}),
    ]
)
EMBEDDINGS = {
    "id": "embd-aad6fc62b17349b192ef09225058bc45",
    "object": "list",
    "data": [{"object": "embedding", "embedding": [0.1, -0.2, 0.3], "index": 0}],
    "model": "mistral-embed",
    "usage": {"prompt_tokens": 9, "total_tokens": 9, "completion_tokens": 0},
}


@pytest.fixture
def instrumented(otel):
    instrumentor = MistralAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer()))
    yield otel
    instrumentor.uninstrument()


def client_for(wire: Wire) -> Mistral:
    httpx = wire.httpx
    return Mistral(
        api_key="test",
        client=httpx.Client(transport=wire.transport()),
        async_client=httpx.AsyncClient(transport=wire.transport()),
    )


def wire() -> Wire:
    return Wire(basesdk.httpx)  # the httpx flavour the client itself imports


def test_complete_with_tool_call(instrumented):
    w = wire().reply(COMPLETION)
    response = client_for(w).chat.complete(model=MODEL, messages=MESSAGES, random_seed=3, max_tokens=64, top_p=0.9)
    assert response.choices[0].message.tool_calls[0].id == "D681PevKs"
    assert w.json_sent()["random_seed"] == 3
    span = instrumented.only_span()
    assert span.name == f"chat {MODEL}"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["server.address"] == "api.mistral.ai"
    assert attrs["server.port"] == 443
    assert attrs["gen_ai.request.seed"] == 3
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert "gen_ai.request.temperature" not in attrs  # UNSET is not a value
    assert attrs["gen_ai.response.id"] == COMPLETION["id"]
    assert attrs["gen_ai.response.model"] == "mistral-small-2506"
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attrs["agentmetrics.response.tool_call_ids"] == ("D681PevKs",)
    assert attrs["gen_ai.usage.input_tokens"] == 16
    assert attrs["gen_ai.usage.output_tokens"] == 34
    # Priced by the model that answered, Mistral Small 3.2 (2506): $0.10 input, $0.30 output per million tokens.
    expected = usd(16, 0.10) + usd(34, 0.30)
    assert attrs["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-9)
    assert cost_points(instrumented) == [pytest.approx(expected, rel=1e-9)]


def test_stream(instrumented):
    w = wire().stream(STREAM)
    events = list(client_for(w).chat.stream(model=MODEL, messages=MESSAGES))
    assert "".join(e.data.choices[0].delta.content for e in events) == "Claude Monet."
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "6a3b2f1e9c4d4a7f8e2b1c0d9e8f7a6b"
    assert attrs["gen_ai.usage.input_tokens"] == 16
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.client.operation.time_to_first_chunk"] > 0


async def test_async_complete_and_stream(instrumented):
    w = wire().reply(COMPLETION).stream(STREAM)
    client = client_for(w)
    await client.chat.complete_async(model=MODEL, messages=MESSAGES)
    stream = await client.chat.stream_async(model=MODEL, messages=MESSAGES)
    async with stream as events:
        async for event in events:
            if event.data.choices[0].finish_reason:
                break
    plain, streamed = instrumented.finished()
    assert plain.attributes["gen_ai.usage.output_tokens"] == 34
    assert streamed.attributes["gen_ai.usage.output_tokens"] == 5


def test_stream_abandoned_ends_once(instrumented):
    w = wire().stream(STREAM)
    stream = client_for(w).chat.stream(model=MODEL, messages=MESSAGES)
    next(stream)
    stream.close()
    del stream
    gc.collect()
    span = instrumented.only_span()
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_embeddings(instrumented):
    w = wire().reply(EMBEDDINGS)
    response = client_for(w).embeddings.create(model="mistral-embed", inputs=["Embed this sentence."])
    assert response.data[0].embedding == [0.1, -0.2, 0.3]
    span = instrumented.only_span()
    assert span.name == "embeddings mistral-embed"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 9
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert span.attributes["gen_ai.response.id"] == EMBEDDINGS["id"]
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(usd(9, 0.10), rel=1e-9)  # mistral-embed: $0.10/M


def test_error(instrumented):
    w = wire().reply({"object": "error", "message": "Unauthorized", "type": "invalid_request_error"}, status=401)
    with pytest.raises(errors.SDKError):
        client_for(w).chat.complete(model=MODEL, messages=MESSAGES)
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "SDKError"


async def test_async_embeddings(instrumented):
    w = wire().reply(EMBEDDINGS)
    await client_for(w).embeddings.create_async(model="mistral-embed", inputs="Embed this sentence.")
    span = instrumented.only_span()
    assert span.name == "embeddings mistral-embed"
    assert span.attributes["gen_ai.usage.input_tokens"] == 9


def test_azure_ai_foundry_client(instrumented):
    from mistralai.azure.client import MistralAzure

    w = wire().reply(COMPLETION)
    client = MistralAzure(
        api_key="test",
        server_url="https://my-deployment.eastus2.models.ai.azure.com",
        client=w.httpx.Client(transport=w.transport()),
    )
    client.chat.complete(model="mistral-small-2503", messages=MESSAGES)
    span = instrumented.only_span()
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.inference"
    assert span.attributes["server.address"] == "my-deployment.eastus2.models.ai.azure.com"
    assert span.attributes["gen_ai.usage.output_tokens"] == 34
