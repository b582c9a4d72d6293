"""LiteLLM through the real ``litellm`` package, with the ``openai`` instrumentor on as well.

Runs where LiteLLM is installed (``bash tests/litellm-env.sh``: the LiteLLM releases that install today pin
``openai<3``, which the main test environment does not use). Two sources of responses:
- the recorded OpenAI cassettes in ``tests/cassettes/openai`` (real traffic), replayed through an OpenAI client
  handed to LiteLLM with ``client=``: LiteLLM calls the instrumented ``openai`` SDK inside, and exactly one span
  must come out;
- for Mistral, a stand-in server on 127.0.0.1 reached with ``api_base``, answering with a body built from
  Mistral's documented wire format (https://docs.mistral.ai/api/#tag/chat, OpenAI-shaped). (Groq would do as well,
  but LiteLLM 1.106.2's own Groq response handling fails on this environment's pydantic, instrumented or not.)
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price map at import
if os.environ.get("LITELLM_TESTS_REQUIRED"):  # set by tests/litellm-env.sh: LiteLLM must be there
    import litellm
    import openai
else:
    litellm = pytest.importorskip("litellm", reason="LiteLLM runs in its own environment: bash tests/litellm-env.sh")
    openai = pytest.importorskip("openai")

from otel_agentmetrics._telemetry import Telemetry  # noqa: E402
from otel_agentmetrics.instrumentors.llm.litellm import LiteLLMInstrumentor  # noqa: E402
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor  # noqa: E402

from .replay import Cassette, http_module_of  # noqa: E402
from .wire_format import cost_points, loaded_pricer, usd  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say this is a test"}]


@pytest.fixture
def instrumented(otel):
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer())
    both = [LiteLLMInstrumentor(), OpenAIInstrumentor()]
    for instrumentor in both:
        instrumentor.instrument(telemetry=telemetry)
    yield otel
    for instrumentor in both:
        instrumentor.uninstrument()


def openai_client(cassette: str, asynchronous: bool = False) -> Any:
    httpx = http_module_of(openai)
    transport = Cassette(cassette).transport(httpx)
    if asynchronous:
        return openai.AsyncOpenAI(api_key="test", http_client=httpx.AsyncClient(transport=transport))
    return openai.OpenAI(api_key="test", http_client=httpx.Client(transport=transport))


def test_one_span_when_litellm_calls_the_instrumented_openai_client(instrumented):
    client = openai_client("openai/test_chat_completion_with_content")
    response = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, client=client)
    assert response.choices[0].message.content == "This is a test."
    span = instrumented.only_span()  # LiteLLM's; the openai layer inside added none
    assert span.name == "chat openai/gpt-4o-mini"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["server.address"] == "api.openai.com"
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in instrumented.metric_points("gen_ai.client.token.usage")}
    assert tokens == {"input": 12, "output": 5}  # counted once
    # gpt-4o-mini's published price: $0.15 input, $0.60 output per million tokens; counted once as well.
    expected = usd(12, 0.15) + usd(5, 0.60)
    assert attrs["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-9)
    assert cost_points(instrumented) == [pytest.approx(expected, rel=1e-9)]


def test_the_openai_client_alone_still_has_its_span(instrumented):
    client = openai_client("openai/test_chat_completion_with_content")
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = instrumented.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 12


def test_stream_through_litellm(instrumented):
    client = openai_client("openai/test_chat_completion_streaming")
    stream = litellm.completion(
        model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, client=client
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    span = instrumented.only_span()
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.output_tokens"] > 0
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


async def test_async_completion(instrumented):
    client = openai_client("openai/test_chat_completion_with_content", asynchronous=True)
    response = await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, client=client)
    assert response.usage.prompt_tokens == 12
    span = instrumented.only_span()
    assert span.attributes["gen_ai.usage.output_tokens"] == 5


MISTRAL_MODEL = "mistral-small-latest"
MISTRAL_COMPLETION = {
    "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
    "object": "chat.completion",
    "created": 1702256327,
    "model": "mistral-small-2506",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 18, "completion_tokens": 2, "total_tokens": 20},
}


@pytest.fixture(scope="module")
def mistral_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["content-length"]))
            status, body = (200, MISTRAL_COMPLETION) if self.path.endswith("/chat/completions") else (404, {})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_provider_from_the_model_prefix(instrumented, mistral_server):
    response = litellm.completion(
        model=f"mistral/{MISTRAL_MODEL}", messages=MESSAGES, api_base=mistral_server, api_key="x", temperature=0.3
    )
    assert response.choices[0].message.content == "Hi."
    span = instrumented.only_span()
    assert span.name == f"chat mistral/{MISTRAL_MODEL}"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["gen_ai.request.temperature"] == 0.3
    assert attrs["gen_ai.response.id"] == MISTRAL_COMPLETION["id"]
    assert attrs["gen_ai.usage.input_tokens"] == 18
    assert attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    # Priced as Mistral Small 3.2 (the model that answered): $0.10 input, $0.30 output per million tokens.
    assert attrs["gen_ai.usage.cost"] == pytest.approx(usd(18, 0.10) + usd(2, 0.30), rel=1e-9)


def test_error_is_recorded_and_reraised(instrumented):
    httpx = http_module_of(openai)
    transport = httpx.MockTransport(lambda request: httpx.Response(429, json={"error": {"message": "slow down"}}))
    client = openai.OpenAI(api_key="test", http_client=httpx.Client(transport=transport), max_retries=0)
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES, client=client, max_retries=0)
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["gen_ai.provider.name"] == "openai"


def test_warns_when_litellms_own_otel_callback_is_on(instrumented, monkeypatch, caplog):
    from otel_agentmetrics.instrumentors.llm import litellm as ours

    monkeypatch.setattr(ours, "_warned_otel", False)
    monkeypatch.setattr(litellm, "success_callback", ["otel"])
    with caplog.at_level(logging.WARNING, logger="otel_agentmetrics"):
        ours._Target({"model": "gpt-4o-mini"})
        ours._Target({"model": "gpt-4o-mini"})
    warnings = [r for r in caplog.records if "LiteLLM's own OpenTelemetry callback" in r.getMessage()]
    assert len(warnings) == 1


async def test_async_stream_through_litellm(instrumented):
    client = openai_client("openai/test_async_chat_completion_streaming", asynchronous=True)
    stream = await litellm.acompletion(
        model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, client=client
    )
    chunks = [chunk async for chunk in stream]
    assert chunks
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["gen_ai.usage.output_tokens"] == 5
    # gpt-4's published price: $30 input, $60 output per million tokens.
    assert attrs["gen_ai.usage.cost"] == pytest.approx(usd(12, 30.0) + usd(5, 60.0), rel=1e-9)


def test_embedding(instrumented):
    client = openai_client("openai/test_embeddings_with_content")
    response = litellm.embedding(model="text-embedding-3-small", input="This is a test for embeddings", client=client)
    assert response.usage.prompt_tokens == 6
    span = instrumented.only_span()
    assert span.name == "embeddings text-embedding-3-small"
    attrs = span.attributes
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == 6
    assert "gen_ai.usage.output_tokens" not in attrs
    # text-embedding-3-small's published price: $0.02 per million tokens.
    assert attrs["gen_ai.usage.cost"] == pytest.approx(usd(6, 0.02), rel=1e-9)
