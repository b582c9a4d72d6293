"""Who served the call, opt-in stream usage, legacy completions and provider-reported cost.

No cassettes exist for these; the server side is built from each provider's documented OpenAI-compatible wire
format (Chat Completions JSON and SSE, Azure's deployment URLs, OpenRouter's ``usage.cost``), while the client is
the real ``openai`` package.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from otel_agentmetrics.instrumentors.llm.openai._endpoint import provider_for

from .openai_kit import client_answering, httpx, instrument
from .openai_kit import instrumented as instrumented  # noqa: F401  (fixture)

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "llama-3.1-8b-instant",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
}
MESSAGES = [{"role": "user", "content": "Hi"}]


def _json(body: dict[str, Any], seen: list[Any] | None = None) -> Any:
    def handle(request: Any) -> Any:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, json=body, request=request)

    return handle


@pytest.mark.parametrize(
    ("base_url", "provider", "address", "port"),
    [
        ("https://api.groq.com/openai/v1", "groq", "api.groq.com", 443),
        ("https://api.deepseek.com/v1", "deepseek", "api.deepseek.com", 443),
        ("https://openrouter.ai/api/v1", "openrouter", "openrouter.ai", 443),
        ("https://api.together.xyz/v1", "together", "api.together.xyz", 443),
        ("https://api.mistral.ai/v1", "mistral_ai", "api.mistral.ai", 443),
        ("https://api.x.ai/v1", "x_ai", "api.x.ai", 443),
        ("https://api.perplexity.ai", "perplexity", "api.perplexity.ai", 443),
        ("http://localhost:11434/v1", "ollama", "localhost", 11434),
        ("http://127.0.0.1:8000/v1", "vllm", "127.0.0.1", 8000),
        ("http://10.0.0.5:9999/v1", "openai", "10.0.0.5", 9999),
    ],
)
def test_compatible_endpoints_are_named_by_host(instrumented, base_url, provider, address, port):  # noqa: F811
    client = client_answering(_json(COMPLETION), base_url=base_url)
    client.chat.completions.create(model="m", messages=MESSAGES)
    span = instrumented.only_span()
    assert span.attributes["gen_ai.provider.name"] == span.attributes["gen_ai.system"] == provider
    assert span.attributes["server.address"] == address
    assert span.attributes["server.port"] == port
    (point,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert point.attributes["gen_ai.provider.name"] == provider
    assert point.attributes["server.address"] == address


def test_endpoint_follows_a_base_url_changed_after_calls(instrumented):  # noqa: F811
    """The base URL is read from the client's state on the hot path (openai 3.x): a client whose ``base_url`` is
    set between calls, a subclass with its own ``base_url`` and the module-level client (which follows
    ``openai.base_url``) are still named by the URL their property returns."""
    from otel_agentmetrics.instrumentors.llm.openai import _endpoint

    client = client_answering(_json(COMPLETION), base_url="https://api.groq.com/openai/v1")
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.base_url = "http://localhost:11434/v1"
    client.chat.completions.create(model="m", messages=MESSAGES)
    first, second = instrumented.finished()
    assert (first.attributes["gen_ai.provider.name"], second.attributes["gen_ai.provider.name"]) == ("groq", "ollama")
    if "_configured_base_url" not in vars(client):
        return  # openai 1.x and 2.x: the base URL is a plain attribute, read as such
    assert _endpoint._classes[type(client)] == (True, False)  # openai 3.x: read without the property

    class Elsewhere(openai.OpenAI):
        @property
        def base_url(self) -> Any:
            return httpx.URL("https://api.deepseek.com/v1/")

    elsewhere = client_answering(_json(COMPLETION), cls=Elsewhere)
    assert _endpoint.endpoint_of(elsewhere) == ("deepseek", "api.deepseek.com", 443)

    module_client = openai._load_client()
    before = openai.base_url
    try:
        openai.base_url = "https://api.mistral.ai/v1"
        assert _endpoint.endpoint_of(module_client)[0] == "mistral_ai"
        openai.base_url = "https://api.x.ai/v1"
        assert _endpoint.endpoint_of(module_client)[0] == "x_ai"
    finally:
        openai.base_url = before


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_azure_openai(instrumented, is_async):  # noqa: F811
    seen: list[Any] = []
    cls = openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI
    client = client_answering(
        _json({**COMPLETION, "model": "gpt-4o-mini"}, seen),
        is_async=is_async,
        cls=cls,
        azure_endpoint="https://contoso.openai.azure.com",
        api_version="2024-10-21",
    )
    result = client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    if is_async:
        await result
    assert seen[0].url.path == "/openai/deployments/my-deployment/chat/completions"  # Azure's URL, as sent
    span = instrumented.only_span()
    assert span.name == "chat my-deployment"
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert span.attributes["server.address"] == "contoso.openai.azure.com"
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-mini"


def test_provider_table():
    assert provider_for("my-resource.openai.azure.com", 443) == "azure.ai.openai"
    assert provider_for("API.GROQ.COM", 443) == "groq"
    assert provider_for("ollama.internal", 80) == "ollama"
    assert provider_for("localhost", 1234) == "lmstudio"
    assert provider_for("example.com", 443) == "openai"
    assert provider_for(None, None) == "openai"
    assert provider_for("api.openai.com", 443, azure=True) == "azure.ai.openai"


def test_openrouter_reported_cost_is_used(instrumented):  # noqa: F811
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9, "cost": 0.000123}
    client = client_answering(_json({**COMPLETION, "usage": usage}), base_url="https://openrouter.ai/api/v1")
    client.chat.completions.create(model="meta-llama/llama-3.1-8b-instruct", messages=MESSAGES)
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.usage.cost"] == attrs["operation.cost"] == 0.000123
    assert attrs["agentmetrics.cost.source"] == "provider"
    (point,) = instrumented.metric_points("gen_ai.usage.cost")
    assert point.sum == 0.000123
    assert point.attributes["gen_ai.provider.name"] == "openrouter"


def _chat_sse(request: Any) -> Any:
    """Answers like the API: a usage chunk only when ``stream_options.include_usage`` was asked for."""
    body = json.loads(request.content)
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024"}
    words = ["Hel", "lo"]
    events = [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        for event in events:
            event["usage"] = None
        events.append(
            {**base, "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}}
        )
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode(), request=request)


def _dump(chunks: list[Any]) -> list[Any]:
    return [(type(c).__name__, c.model_dump()) for c in chunks]


@pytest.mark.parametrize("user_asked", [False, True], ids=["injected", "user-asked"])
def test_stream_usage_injection(otel, user_asked):
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if user_asked else {}
    plain = _dump(list(client_answering(_chat_sse).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, **extra)))  # fmt: skip
    instrumentor = instrument(otel, stream_usage=True)
    try:
        options = {"include_usage": True} if user_asked else None
        kwargs = {"stream_options": options} if options else {}
        traced = _dump(list(client_answering(_chat_sse).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, **kwargs)))  # fmt: skip
    finally:
        instrumentor.uninstrument()
    assert traced == plain  # the usage chunk we asked for is hidden; the user's own is shown
    assert len(traced) == (4 if user_asked else 3)
    attrs = otel.only_span().attributes
    assert attrs["gen_ai.usage.input_tokens"] == 8
    assert attrs["gen_ai.usage.output_tokens"] == 2


def test_stream_usage_injection_is_off_by_default(instrumented):  # noqa: F811
    seen: list[Any] = []

    def handle(request: Any) -> Any:
        seen.append(json.loads(request.content))
        return _chat_sse(request)

    list(client_answering(handle).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "stream_options" not in seen[0]
    assert "gen_ai.usage.input_tokens" not in instrumented.only_span().attributes


COMPLETIONS_LEGACY = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": "\n\nThis is a test.", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}


def test_legacy_completions(otel):
    instrumentor = instrument(otel, capture=True)
    try:
        client = client_answering(_json(COMPLETIONS_LEGACY))
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7)
    finally:
        instrumentor.uninstrument()
    span = otel.only_span()
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    attrs = dict(span.attributes)
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.request.max_tokens"] == 7
    assert attrs["gen_ai.response.id"] == "cmpl-1"
    assert attrs["gen_ai.usage.input_tokens"] == 5
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["content"] == "\n\nThis is a test."


def test_legacy_completions_streamed(instrumented):  # noqa: F811
    base = {"id": "cmpl-2", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct"}
    events = [
        {**base, "choices": [{"text": "Hi", "index": 0, "logprobs": None, "finish_reason": None}]},
        {**base, "choices": [{"text": "!", "index": 0, "logprobs": None, "finish_reason": "length"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"

    def handle(request: Any) -> Any:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=text.encode(), request=request
        )

    stream = client_answering(handle).completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Hi", stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].text for c in stream if c.choices) == "Hi!"
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.response.finish_reasons"] == ("length",)
    assert attrs["gen_ai.usage.output_tokens"] == 2
