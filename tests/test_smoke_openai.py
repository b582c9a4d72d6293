from __future__ import annotations

import openai
import pytest

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.openai import OpenAIInstrumentor

from .replay import Cassette, http_module_of


@pytest.fixture
def instrumented(otel):
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider))
    yield otel
    instrumentor.uninstrument()


def client_for(name: str) -> openai.OpenAI:
    httpx = http_module_of(openai)
    return openai.OpenAI(
        api_key="test_openai_api_key",
        http_client=httpx.Client(transport=Cassette(name).transport(httpx)),
    )


def test_chat_completion(instrumented):
    client = client_for("openai/test_chat_completion_with_content")
    response = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
    )
    assert response.choices[0].message.content == "This is a test."
    span = instrumented.only_span()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"


def test_chat_streaming(instrumented):
    client = client_for("openai/test_chat_completion_streaming")
    stream = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Say this is a test"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    span = instrumented.only_span()
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] > 0
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
