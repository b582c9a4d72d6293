"""Request shapes beyond plain dicts: SDK model objects, typed options, multi-part content and tool results.

Content capture is on, so every reader runs; our internal errors raise under tests, so a reader that chokes on one
of these shapes fails here instead of silently dropping telemetry.
"""

from __future__ import annotations

import json

import groq
import httpx
import ollama
from mistralai.client import Mistral, basesdk, models

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.groq import GroqInstrumentor
from otel_agentmetrics.instrumentors.llm.mistralai import MistralAIInstrumentor
from otel_agentmetrics.instrumentors.llm.ollama import OllamaInstrumentor

from .test_groq import COMPLETION
from .test_mistral import COMPLETION as MISTRAL_COMPLETION
from .test_ollama import server  # noqa: F401 - the stand-in Ollama server fixture
from .wire_format import Wire


def instrumented(otel, instrumentor):
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True))
    return instrumentor


def test_groq_multipart_content_tool_results_and_tools(otel):
    instrumentor = instrumented(otel, GroqInstrumentor())
    try:
        client = groq.Groq(api_key="x", http_client=httpx.Client(transport=Wire(httpx).reply(COMPLETION).transport()))
        client.chat.completions.create(
            model="meta-llama/llama-4-scout-17b-16e-instruct",
            messages=[
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            ],
            tools=[{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
        )
    finally:
        instrumentor.uninstrument()
    attrs = otel.only_span().attributes
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is in this image?"}, {"type": "image_url"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": "{}"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}]},
    ]
    assert json.loads(attrs["gen_ai.tool.definitions"]) == [
        {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}
    ]


def test_mistral_message_models(otel):
    instrumentor = instrumented(otel, MistralAIInstrumentor())
    try:
        wire = Wire(basesdk.httpx).reply(MISTRAL_COMPLETION)
        client = Mistral(api_key="x", client=wire.httpx.Client(transport=wire.transport()))
        client.chat.complete(
            model="mistral-small-latest",
            messages=[models.SystemMessage(content="Be brief."), models.UserMessage(content="Who painted this?")],
        )
    finally:
        instrumentor.uninstrument()
    attrs = otel.only_span().attributes
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Who painted this?"}]},
    ]
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "tool_call", "id": "D681PevKs", "name": "get_painter", "arguments": "{}"}
    ]


def test_ollama_message_and_options_objects(otel, server):  # noqa: F811 - the fixture imported above
    url, _ = server
    instrumentor = instrumented(otel, OllamaInstrumentor())
    try:
        ollama.Client(host=url).chat(
            model="llama3.2",
            messages=[ollama.Message(role="user", content="Why is the sky blue?")],
            options=ollama.Options(temperature=0.5, num_predict=20, top_k=40),
        )
    finally:
        instrumentor.uninstrument()
    attrs = otel.only_span().attributes
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.max_tokens"] == 20
    assert attrs["gen_ai.request.top_k"] == 40
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Why is the sky blue?"}]}
    ]
