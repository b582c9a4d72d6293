"""Readings real traffic got wrong: Azure's prompt-filter first chunk, a Titan stream stopped by a guardrail.

No recording of either is shared, so the bodies follow the documented formats: Azure OpenAI's streamed chat
completions open with a chunk that carries only ``prompt_filter_results`` and has ``""`` for ``id``, ``model``
and ``object`` (https://learn.microsoft.com/azure/ai-services/openai/concepts/content-filter, "streaming");
a Bedrock Titan stream that a guardrail stopped sends one chunk with ``amazon-bedrock-guardrailAction:
INTERVENED``, its counts as floats (``inputTextTokenCount: 6.0``) and no ``amazon-bedrock-invocationMetrics``.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import groq
import httpx
import openai
import pytest

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.groq import GroqInstrumentor

from .openai_kit import client_answering, instrumented  # noqa: F401 - fixture
from .openai_kit import httpx as openai_httpx
from .replay_botocore import BedrockReplay
from .test_bedrock import base, instrument, pop_cost
from .test_bedrock_streams import _frame
from .wire_format import Wire, loaded_pricer, sse, usd

AZURE_ID = "chatcmpl-AzR8kLm2QxV7"
AZURE_MODEL = "gpt-4o-mini-2024-07-18"
SAFE = {"filtered": False, "severity": "safe"}
FILTERS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}


def azure_chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict | None = None) -> dict:
    body: dict[str, Any] = {
        "id": AZURE_ID,
        "object": "chat.completion.chunk",
        "created": 1733400000,
        "model": AZURE_MODEL,
        "system_fingerprint": "fp_04751d0b65",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None, "content_filter_results": {}}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


PROMPT_FILTER_CHUNK = {
    "id": "",
    "object": "",
    "created": 0,
    "model": "",
    "choices": [],
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
}
AZURE_STREAM = [
    PROMPT_FILTER_CHUNK,
    azure_chunk({"role": "assistant", "content": ""}),
    azure_chunk({"content": "Hello"}),
    azure_chunk({}, "stop"),
    azure_chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}),
]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_azure_stream_takes_id_and_model_from_the_first_chunk_that_has_them(instrumented, is_async):  # noqa: F811
    body = sse(AZURE_STREAM)

    def answer(request: Any) -> Any:
        return openai_httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = client_answering(
        answer,
        is_async=is_async,
        cls=openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI,
        azure_endpoint="https://contoso.openai.azure.com",
        api_version="2024-10-21",
    )
    messages = [{"role": "user", "content": "Say hello"}]
    if is_async:
        stream = await client.chat.completions.create(model="my-deployment", messages=messages, stream=True)
        chunks = [chunk async for chunk in stream]
    else:
        chunks = list(client.chat.completions.create(model="my-deployment", messages=messages, stream=True))
    assert [chunk.id for chunk in chunks] == ["", AZURE_ID, AZURE_ID, AZURE_ID, AZURE_ID]  # the user sees them all
    span = instrumented.only_span()
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert span.attributes["gen_ai.response.id"] == AZURE_ID
    assert span.attributes["gen_ai.response.model"] == AZURE_MODEL
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (9, 2)
    (tokens,) = [
        p
        for p in instrumented.metric_points("gen_ai.client.token.usage")
        if p.attributes["gen_ai.token.type"] == "input"
    ]
    assert tokens.attributes["gen_ai.response.model"] == AZURE_MODEL
    assert tokens.sum == 9


def test_openai_shaped_reader_skips_an_empty_first_chunk_too(otel):
    """The reader Groq, Mistral and LiteLLM share (``_openai_like``) has the same rule."""
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer()))
    try:
        wire = Wire(httpx).stream(sse(AZURE_STREAM))
        client = groq.Groq(api_key="test", http_client=httpx.Client(transport=wire.transport()), max_retries=0)
        stream = client.chat.completions.create(model="llama-3.3-70b-versatile", messages=[], stream=True)
        assert len(list(stream)) == 5
    finally:
        instrumentor.uninstrument()
    span = otel.only_span()
    assert span.attributes["gen_ai.response.id"] == AZURE_ID
    assert span.attributes["gen_ai.response.model"] == AZURE_MODEL


TITAN = "amazon.titan-text-express-v1"
TITAN_GUARDRAIL_CHUNK = {
    "outputText": "Sorry, the model cannot answer this question.",
    "index": 0,
    "totalOutputTextTokenCount": 10.0,
    "completionReason": "CONTENT_FILTERED",
    "inputTextTokenCount": 6.0,
    "amazon-bedrock-guardrailAction": "INTERVENED",
}


def _chunk_frame(data: dict[str, Any]) -> bytes:
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(data).encode()).decode()}).encode()
    return _frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload)


@pytest.fixture
def bedrock(otel):
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


def test_titan_stream_stopped_by_a_guardrail_records_its_tokens_and_cost(bedrock):
    replay = BedrockReplay("bedrock/test_converse_with_content")
    replay.cassette.interactions = [
        {
            "request": {
                "method": "POST",
                "uri": f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{quote(TITAN, safe='')}"
                "/invoke-with-response-stream",
            },
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {
                    "Content-Type": "application/vnd.amazon.eventstream",
                    "X-Amzn-Bedrock-Content-Type": "application/json",
                    "x-amzn-RequestId": "documented-1",
                },
                "body": {"string": _chunk_frame(TITAN_GUARDRAIL_CHUNK)},
            },
        }
    ]
    request = {"inputText": "How do I pick a lock?", "textGenerationConfig": {"maxTokenCount": 50}}
    response = replay.client.invoke_model_with_response_stream(
        modelId=TITAN, body=json.dumps(request), guardrailIdentifier="gr-1", guardrailVersion="1"
    )
    (event,) = list(response["body"])
    assert json.loads(event["chunk"]["bytes"]) == TITAN_GUARDRAIL_CHUNK
    span = bedrock.only_span()
    attributes, cost = pop_cost(span.attributes)
    assert attributes["gen_ai.usage.input_tokens"] == 6
    assert attributes["gen_ai.usage.output_tokens"] == 10
    assert type(attributes["gen_ai.usage.input_tokens"]) is int  # 6.0 on the wire, a count on the span
    assert attributes["gen_ai.response.finish_reasons"] == ("CONTENT_FILTERED",)
    assert {k: attributes[k] for k in base(TITAN, "text_completion")} == base(TITAN, "text_completion")
    # Titan Text Express: 0.20 USD per million input tokens, 0.60 per million output tokens.
    assert cost == pytest.approx(usd(6, 0.20) + usd(10, 0.60))
    points = {p.attributes["gen_ai.token.type"]: p for p in bedrock.metric_points("gen_ai.client.token.usage")}
    assert (points["input"].sum, points["output"].sum) == (6, 10)
    (dollars,) = bedrock.metric_points("gen_ai.usage.cost")
    assert dollars.sum == pytest.approx(cost)
