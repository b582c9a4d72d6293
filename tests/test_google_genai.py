"""google-genai through the real SDK: the recorded Vertex AI cassettes replayed via ``HttpOptions(httpx_client=...)``,
and Gemini Developer API responses built from Google's documented ``generateContent`` wire format (no recording of
that backend is shared; those tests say so)."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor

from .replay import Cassette

PROMPT = "Create a poem about Open Telemetry."
VERTEX_HOST = "test-location-aiplatform.googleapis.com"  # the recording's URI was rewritten to test-location
GEMINI_HOST = "generativelanguage.googleapis.com"
# Published Gemini 2.5 Flash prices, USD per million tokens: input 0.30, output (thinking included) 2.50,
# cached input (context caching) 0.03.
FLASH_IN, FLASH_OUT, FLASH_CACHED = 0.30, 2.50, 0.03


def flash_dollars(inputs: int, outputs: int, cached: int = 0) -> float:
    return ((inputs - cached) * FLASH_IN + cached * FLASH_CACHED + outputs * FLASH_OUT) / 1_000_000


def instrument(otel: Any, capture: str = "NO_CONTENT") -> GoogleGenAIInstrumentor:
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=capture))
    return instrumentor


@pytest.fixture
def instrumented(otel):
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def capturing(otel):
    instrumentor = instrument(otel, "SPAN_ONLY")
    yield otel
    instrumentor.uninstrument()


def vertex_client(kind: str, mode: str) -> genai.Client:
    cassette = Cassette(f"google_genai/test_{kind}[logcontent-gemini-2.5-flash-vertexaiapi-{mode}-default].yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return genai.Client(
            vertexai=True,
            project="test-project",
            location="test-location",
            credentials=Credentials(token="test-token"),
            http_options=types.HttpOptions(
                httpx_client=httpx.Client(transport=cassette.transport(httpx)),
                httpx_async_client=httpx.AsyncClient(transport=cassette.transport(httpx)),
            ),
        )


def gemini_client(*replies: tuple[int, dict[str, Any]], sent: list[Any] | None = None) -> genai.Client:
    """A Gemini Developer API client whose requests are answered, in order, with the given status and JSON."""
    queue = list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        status, body = queue.pop(0)
        return httpx.Response(status, json=body, request=request)

    transport = httpx.MockTransport(handle)
    return genai.Client(
        api_key="test-gemini-key",
        http_options=types.HttpOptions(
            httpx_client=httpx.Client(transport=transport), httpx_async_client=httpx.AsyncClient(transport=transport)
        ),
    )


def vertex_attributes(**extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.vertex_ai",
        "gen_ai.system": "gcp.vertex_ai",
        "gen_ai.request.model": "gemini-2.5-flash",
        "server.address": VERTEX_HOST,
        "server.port": 443,
        "gen_ai.response.model": "gemini-2.5-flash",
        "gen_ai.response.finish_reasons": ("stop",),
        **extra,
    }


def without_cost(span: Any) -> tuple[dict[str, Any], float | None]:
    rest = dict(span.attributes)
    cost = rest.pop("gen_ai.usage.cost", None)
    assert rest.pop("operation.cost", None) == cost
    assert rest.pop("agentmetrics.cost.source", "genai-prices").startswith("genai-prices")
    return rest, cost


def test_generate_content_vertex(instrumented):
    client = vertex_client("non_streaming", "sync")
    response = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert response.text.startswith("In systems vast, where services reside")
    span = instrumented.only_span()
    assert span.name == "generate_content gemini-2.5-flash"
    attributes, cost = without_cost(span)
    # candidatesTokenCount 433 does not include the 1477 thinking tokens; our output tokens do.
    assert attributes == vertex_attributes(
        **{
            "gen_ai.response.id": "hizpaKmcH9qs698P85HHgAU",
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.usage.output_tokens": 433 + 1477,
            "gen_ai.usage.reasoning.output_tokens": 1477,
        }
    )
    assert cost == pytest.approx(flash_dollars(8, 1910))  # 0.0047774 USD
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in instrumented.metric_points("gen_ai.client.token.usage")}
    assert tokens == {"input": 8, "output": 1910}
    (spent,) = instrumented.metric_points("gen_ai.usage.cost")
    assert spent.sum == pytest.approx(0.0047774)


async def test_generate_content_vertex_async(instrumented):
    client = vertex_client("non_streaming", "async")
    response = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert response.usage_metadata.thoughts_token_count == 1692
    span = instrumented.only_span()
    attributes, cost = without_cost(span)
    assert attributes == vertex_attributes(
        **{
            "gen_ai.response.id": "lCzpaN3mBYqCnvgP5dCT6AU",
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.usage.output_tokens": 340 + 1692,
            "gen_ai.usage.reasoning.output_tokens": 1692,
        }
    )
    assert cost == pytest.approx(flash_dollars(8, 2032))


def stream_attributes(span: Any, response_id: str, candidates: int, thoughts: int) -> None:
    attributes, cost = without_cost(span)
    first = attributes.pop("gen_ai.response.time_to_first_chunk")
    assert first > 0 and attributes.pop("gen_ai.client.operation.time_to_first_chunk") == first
    assert attributes == vertex_attributes(
        **{
            "gen_ai.request.stream": True,
            "gen_ai.response.id": response_id,
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.usage.output_tokens": candidates + thoughts,
            "gen_ai.usage.reasoning.output_tokens": thoughts,
        }
    )
    assert cost == pytest.approx(flash_dollars(8, candidates + thoughts))


def test_stream_vertex(instrumented):
    client = vertex_client("streaming", "sync")
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT))
    assert len(chunks) == 6 and chunks[0].text.startswith("When systems hum")
    span = instrumented.only_span()
    assert span.name == "generate_content gemini-2.5-flash"
    stream_attributes(span, "vizpaJGEDvXZnvgPisGa2A0", 388, 2193)
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == 5


async def test_stream_vertex_async(instrumented):
    client = vertex_client("streaming", "async")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 4
    stream_attributes(instrumented.only_span(), "zSzpaJb-MPXZnvgPisGa2A0", 257, 1257)


def test_stream_break_then_garbage_collected(instrumented):
    client = vertex_client("streaming", "sync")
    stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT)
    for chunk in stream:
        assert chunk.text
        break
    assert instrumented.finished() == []
    del stream, chunk
    gc.collect()
    span = instrumented.only_span()
    assert span.status.status_code.name == "UNSET"
    assert "gen_ai.usage.output_tokens" not in span.attributes  # the usage comes in the last chunk
    assert span.attributes["gen_ai.response.id"] == "vizpaJGEDvXZnvgPisGa2A0"


def test_stream_closed(instrumented):
    client = vertex_client("streaming", "sync")
    stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT)
    next(stream)
    stream.close()
    gc.collect()
    assert len(instrumented.finished()) == 1


async def test_async_stream_user_exception(instrumented):
    client = vertex_client("streaming", "async")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT)
    with pytest.raises(RuntimeError):
        async for _ in stream:
            raise RuntimeError("the user's own bug")
    await stream.aclose()
    del stream
    gc.collect()
    # The SDK's inner async generator is finalized by the event loop (its asyncgen hooks), a few turns later.
    for _ in range(10):
        if instrumented.finished():
            break
        await asyncio.sleep(0)
    span = instrumented.only_span()
    assert span.status.status_code.name == "UNSET"  # the model call itself did not fail


# Gemini Developer API: responses built from the documented generateContent format.
GEMINI_REPLY = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "Telemetry flows like light."}]},
            "finishReason": "MAX_TOKENS",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 2100,
        "cachedContentTokenCount": 2048,
        "candidatesTokenCount": 6,
        "thoughtsTokenCount": 40,
        "totalTokenCount": 2146,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "gemini-api-response-1",
}


def test_gemini_api_cached_and_thinking_tokens(capturing):
    sent: list[Any] = []
    client = gemini_client((200, GEMINI_REPLY), sent=sent)
    config = types.GenerateContentConfig(
        temperature=0.2, top_p=0.9, top_k=20, max_output_tokens=64, stop_sequences=["END"], seed=7,
        system_instruction="Answer in one line.",
    )  # fmt: skip
    client.models.generate_content(model="gemini-2.5-flash", contents="Describe telemetry.", config=config)
    assert sent[0].url.host == GEMINI_HOST
    span = capturing.only_span()
    attributes, cost = without_cost(span)
    assert {
        key: value for key, value in attributes.items() if not key.startswith(("gen_ai.input", "gen_ai.output"))
    } == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.system": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-flash",
        "server.address": GEMINI_HOST,
        "server.port": 443,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 20,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.seed": 7,
        "gen_ai.response.id": "gemini-api-response-1",
        "gen_ai.response.model": "gemini-2.5-flash",
        "gen_ai.response.finish_reasons": ("max_tokens",),
        "gen_ai.usage.input_tokens": 2100,  # promptTokenCount already includes the cached tokens
        "gen_ai.usage.cache_read.input_tokens": 2048,
        "gen_ai.usage.output_tokens": 46,
        "gen_ai.usage.reasoning.output_tokens": 40,
        "gen_ai.system_instructions": '[{"type": "text", "content": "Answer in one line."}]',
    }
    # 52 uncached input tokens at 0.30, 2048 cached at 0.03, 46 output at 2.50 per million.
    assert cost == pytest.approx(flash_dollars(2100, 46, cached=2048))
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Describe telemetry."}]}
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Telemetry flows like light."}],
            "finish_reason": "max_tokens",
        }
    ]


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


def test_automatic_function_calling_is_one_span_per_request(instrumented):
    """The SDK runs the tool and calls the model again: two billed requests, two spans, each with its own usage."""
    call_reply = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 5, "totalTokenCount": 35},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "afc-1",
    }
    answer_reply = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "It is sunny in Oslo."}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 7, "totalTokenCount": 57},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "afc-2",
    }
    client = gemini_client((200, call_reply), (200, answer_reply))
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Weather in Oslo?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert response.text == "It is sunny in Oslo."
    spans = instrumented.finished()
    assert [span.attributes["gen_ai.response.id"] for span in spans] == ["afc-1", "afc-2"]
    assert [span.attributes["gen_ai.usage.input_tokens"] for span in spans] == [30, 50]
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in instrumented.metric_points("gen_ai.client.token.usage")}
    assert tokens == {"input": 80, "output": 12}


def test_api_error(instrumented):
    """A 404 in the documented error format: the SDK's ClientError reaches the caller, the span says so."""
    error = {"error": {"code": 404, "message": "models/gemini-nope is not found", "status": "NOT_FOUND"}}
    client = gemini_client((404, error))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-nope", contents="hi")
    assert raised.value.code == 404
    span = instrumented.only_span()
    assert span.name == "generate_content gemini-nope"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ClientError"
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "ClientError"


def test_no_content_without_the_switch(instrumented):
    client = gemini_client((200, GEMINI_REPLY))
    client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Describe telemetry.",
        config=types.GenerateContentConfig(system_instruction="secret"),
    )
    attributes = instrumented.only_span().attributes
    assert not [key for key in attributes if key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system_"))]


def test_uninstrument_restores(otel):
    from google.genai import models

    original = models.Models.__dict__["_generate_content"]
    instrumentor = instrument(otel)
    assert models.Models.__dict__["_generate_content"] is not original
    instrumentor.uninstrument()
    assert models.Models.__dict__["_generate_content"] is original


def test_stream_error_mid_stream(instrumented):
    """Gemini reports a failure mid-stream as an SSE event holding the documented error object; the SDK raises it."""
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}}],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "stream-err-1",
    }
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    body = f"data: {json.dumps(chunk)}\r\n\r\ndata: {json.dumps(error)}\r\n\r\n".encode()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    client = genai.Client(
        api_key="test-gemini-key", http_options=types.HttpOptions(httpx_client=httpx.Client(transport=transport))
    )
    seen = []
    with pytest.raises(errors.ServerError, match="overloaded"):
        for chunk_seen in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            seen.append(chunk_seen.text)
    assert seen == ["Hello"]
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ServerError"
    assert span.attributes["gen_ai.response.id"] == "stream-err-1"
    assert span.attributes["gen_ai.provider.name"] == "gcp.gemini"
