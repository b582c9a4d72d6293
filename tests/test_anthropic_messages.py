"""Anthropic Messages through the real ``anthropic`` client, replaying the recorded cassettes.

Exact span names, attributes, token counts, dollars (from Anthropic's published prices) and metric points.
"""

from __future__ import annotations

import inspect
import json

import anthropic
import pytest

from .anthropic_kit import (
    HELLO,
    MODEL,
    SONNET_4,
    cassette_client,
    instrument,
    metric_sum,
    usd,
)


@pytest.fixture
def instrumented(otel):
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def capturing(otel):
    instrumentor = instrument(otel, capture_content=True)
    yield otel
    instrumentor.uninstrument()


BASIC_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.system": "anthropic",
    "gen_ai.request.model": MODEL,
    "server.address": "api.anthropic.com",
    "server.port": 443,
    "gen_ai.request.max_tokens": 100,
    "gen_ai.response.id": "msg_0176GK1qFwwpVM59jDYiKPjN",
    "gen_ai.response.model": MODEL,
    "gen_ai.response.finish_reasons": ("end_turn",),
    "gen_ai.usage.input_tokens": 13,
    "gen_ai.usage.output_tokens": 5,
    "gen_ai.usage.cache_read.input_tokens": 0,
    "gen_ai.usage.cache_creation.input_tokens": 0,
}
# 13 input and 5 output tokens of Claude Sonnet 4 at $3 and $15 per million: $0.000039 + $0.000075.
BASIC_COST = 0.000114


COST_KEYS = ("gen_ai.usage.cost", "operation.cost", "agentmetrics.cost.source")


def _without_cost(attributes: dict) -> dict:
    return {k: v for k, v in attributes.items() if k not in COST_KEYS}


def test_create_basic_exact_attributes_cost_and_metrics(instrumented):
    client = cassette_client("test_sync_messages_create_basic")
    message = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert type(message) is anthropic.types.Message
    assert message.content[0].text == "Hello!"

    span = instrumented.only_span()
    assert span.name == f"chat {MODEL}"
    assert span.kind.name == "CLIENT"
    assert span.instrumentation_scope.name == "otel_agentmetrics"
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES
    assert usd(13, SONNET_4["input"]) + usd(5, SONNET_4["output"]) == pytest.approx(BASIC_COST, rel=1e-12)
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(BASIC_COST, rel=1e-9)
    assert span.attributes["operation.cost"] == pytest.approx(BASIC_COST, rel=1e-9)

    assert metric_sum(instrumented, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 13
    assert metric_sum(instrumented, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == 5
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "server.address": "api.anthropic.com",
        "server.port": 443,
        "gen_ai.response.model": MODEL,
    }
    assert metric_sum(instrumented, "gen_ai.usage.cost") == pytest.approx(BASIC_COST, rel=1e-9)


async def test_async_create(instrumented):
    client = cassette_client("test_sync_messages_create_basic", is_async=True)
    message = await client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert type(message) is anthropic.types.Message
    span = instrumented.only_span()
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(BASIC_COST, rel=1e-9)


def test_request_parameters(instrumented):
    client = cassette_client("test_sync_messages_create_with_all_params")
    sampling = {"temperature": 0.7, "top_k": 40, "top_p": 0.9}
    if "temperature" not in inspect.signature(anthropic.resources.messages.Messages.create).parameters:
        sampling = {"extra_body": sampling}  # anthropic 2.x sends sampling parameters as extra body fields
    messages = [{"role": "user", "content": "Say hello."}]
    client.messages.create(model=MODEL, max_tokens=50, messages=messages, stop_sequences=["STOP"], **sampling)
    assert json.loads(client.cassette.requests[0].content) == client.cassette.recorded_json_body()
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.request.temperature"] == 0.7
    assert attributes["gen_ai.request.top_k"] == 40
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.stop_sequences"] == ("STOP",)
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 18
    # 10 x $3/M + 18 x $15/M
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.00003 + 0.00027, rel=1e-9)


@pytest.mark.parametrize(
    ("cassette", "prompt", "input_tokens", "output_tokens", "finish"),
    [
        ("test_sync_messages_create_token_usage", "Count to 5.", 12, 17, "end_turn"),
        ("test_sync_messages_create_stop_reason", "Say hi.", 10, 11, "end_turn"),
    ],
)
def test_usage_and_stop_reason(instrumented, cassette, prompt, input_tokens, output_tokens, finish):
    client = cassette_client(cassette)
    message = client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": prompt}])
    assert (message.usage.input_tokens, message.usage.output_tokens) == (input_tokens, output_tokens)
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["gen_ai.response.finish_reasons"] == (finish,)


def test_api_error_is_reraised_untouched(instrumented):
    client = cassette_client("test_sync_messages_create_api_error")
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="invalid-model-name", max_tokens=100, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 404
    span = instrumented.only_span()
    assert span.name == "chat invalid-model-name"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "NotFoundError"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert "gen_ai.usage.cost" not in span.attributes
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "NotFoundError"
    assert instrumented.metric_points("gen_ai.client.token.usage") == []


def test_no_content_without_the_switch(instrumented):
    client = cassette_client("test_sync_messages_create_captures_content")
    client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, system="Be brief.")
    attributes = instrumented.only_span().attributes
    assert not [key for key in attributes if key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system_"))]


def test_content_capture(capturing):
    client = cassette_client("test_sync_messages_create_captures_content")
    client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, system="Be brief.")
    attributes = capturing.only_span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello in one word."}]}
    ]
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}], "finish_reason": "end_turn"}
    ]


def test_content_capture_event_only(otel):
    instrumentor = instrument(otel, capture_content="EVENT_ONLY")
    try:
        client = cassette_client("test_sync_messages_create_event_only_no_content_in_span")
        client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    finally:
        instrumentor.uninstrument()
    span = otel.only_span()
    assert "gen_ai.input.messages" not in span.attributes
    (event,) = span.events
    assert event.name == "gen_ai.client.inference.operation.details"
    assert json.loads(event.attributes["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Hello!"}]


def test_thinking_content(capturing):
    client = cassette_client("test_sync_messages_create_captures_thinking_content")
    message = client.messages.create(
        model=MODEL,
        max_tokens=16000,
        messages=[{"role": "user", "content": "What is 17*19? Think first."}],
        thinking={"type": "enabled", "budget_tokens": 10000},
    )
    attributes = capturing.only_span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 46
    assert attributes["gen_ai.usage.output_tokens"] == 417
    # This recording reports no thinking-token breakdown: none is invented.
    assert "gen_ai.usage.reasoning.output_tokens" not in attributes
    # 46 x $3/M + 417 x $15/M = $0.000138 + $0.006255
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.006393, rel=1e-9)
    (output,) = json.loads(attributes["gen_ai.output.messages"])
    assert [part["type"] for part in output["parts"]] == ["reasoning", "text"]
    assert output["parts"][0]["content"] == message.content[0].thinking
    assert output["parts"][1]["content"] == message.content[1].text


def test_tool_use(capturing):
    client = cassette_client("test_sync_messages_create_captures_tool_use_content")
    request = client.cassette.recorded_json_body()
    message = client.messages.create(**request)
    assert message.content[0].type == "tool_use"
    attributes = capturing.only_span().attributes
    assert attributes["agentmetrics.response.tool_call_ids"] == ("toolu_01UAcA2APHENDob6qJ8kmoaC",)
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert attributes["gen_ai.usage.input_tokens"] == 386
    assert attributes["gen_ai.usage.output_tokens"] == 34
    # 386 x $3/M + 34 x $15/M = $0.001158 + $0.00051
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.001668, rel=1e-9)
    assert json.loads(attributes["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get weather by city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_01UAcA2APHENDob6qJ8kmoaC",
                    "name": "get_weather",
                    "arguments": {"city": "San Francisco"},
                }
            ],
            "finish_reason": "tool_use",
        }
    ]


def test_tool_ids_recorded_without_content_capture(instrumented):
    client = cassette_client("test_sync_messages_create_captures_tool_use_content")
    client.messages.create(**client.cassette.recorded_json_body())
    attributes = instrumented.only_span().attributes
    assert attributes["agentmetrics.response.tool_call_ids"] == ("toolu_01UAcA2APHENDob6qJ8kmoaC",)
    assert "gen_ai.tool.definitions" not in attributes


def test_beta_messages_create(instrumented):
    client = cassette_client("test_sync_messages_create_basic")
    message = client.beta.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert type(message).__name__ == "BetaMessage"
    span = instrumented.only_span()
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES
    assert client.cassette.requests[0].url.path == "/v1/messages"


def test_raw_response_is_untouched_and_recorded(instrumented):
    client = cassette_client("test_sync_messages_create_basic")
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=HELLO)
    # A read body is recorded at once and the SDK's own response object is returned as it is.
    assert type(raw).__module__.startswith("anthropic.")
    span = instrumented.only_span()
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES
    assert raw.parse().id == "msg_0176GK1qFwwpVM59jDYiKPjN"
    assert raw.headers["request-id"]
    assert len(instrumented.finished()) == 1


def test_streaming_response_non_stream(instrumented):
    client = cassette_client("test_sync_messages_create_basic")
    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=100, messages=HELLO) as response:
        assert instrumented.finished() == []  # the body is not read yet
        assert response.parse().usage.output_tokens == 5
    span = instrumented.only_span()
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES


def test_streaming_response_read_raw_bytes_only(instrumented):
    client = cassette_client("test_sync_messages_create_basic")
    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=100, messages=HELLO) as response:
        body = json.loads(response.read())
    assert body["usage"]["input_tokens"] == 13
    span = instrumented.only_span()
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES


async def test_async_streaming_response(instrumented):
    client = cassette_client("test_sync_messages_create_basic", is_async=True)
    async with client.messages.with_streaming_response.create(model=MODEL, max_tokens=100, messages=HELLO) as response:
        message = await response.parse()
    assert message.content[0].text == "Hello!"
    assert _without_cost(dict(instrumented.only_span().attributes)) == BASIC_ATTRIBUTES


def test_count_tokens_makes_no_span(instrumented):
    from .anthropic_kit import wire_client

    client = wire_client({"input_tokens": 13})
    assert client.messages.count_tokens(model=MODEL, messages=HELLO).input_tokens == 13
    assert [s for s in instrumented.finished() if s.instrumentation_scope.name == "otel_agentmetrics"] == []
    assert instrumented.metric_points("gen_ai.client.token.usage") == []


def test_uninstrument_restores_everything(otel):
    originals = (anthropic.resources.messages.Messages.create, anthropic.resources.messages.AsyncMessages.stream)
    instrumentor = instrument(otel)
    assert anthropic.resources.messages.Messages.create is not originals[0]
    instrumentor.uninstrument()
    messages = anthropic.resources.messages
    assert (messages.Messages.create, messages.AsyncMessages.stream) == originals
    client = cassette_client("test_sync_messages_create_basic")
    client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert [s for s in otel.finished() if s.instrumentation_scope.name == "otel_agentmetrics"] == []


@pytest.mark.skipif(
    not hasattr(anthropic.resources.messages.Messages, "parse"), reason="this anthropic release has no messages.parse"
)
def test_messages_parse(instrumented):
    client = cassette_client("test_sync_messages_create_basic")
    parsed = client.messages.parse(model=MODEL, max_tokens=100, messages=HELLO)
    assert type(parsed).__name__.startswith("ParsedMessage")
    span = instrumented.only_span()
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(BASIC_COST, rel=1e-9)


async def test_async_raw_response(instrumented):
    client = cassette_client("test_sync_messages_create_basic", is_async=True)
    raw = await client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert type(raw).__module__.startswith("anthropic.")
    span = instrumented.only_span()  # recorded at once: the body was read before the call returned
    assert _without_cost(dict(span.attributes)) == BASIC_ATTRIBUTES
    parsed = raw.parse()
    if inspect.isawaitable(parsed):  # anthropic 2.x; older releases' legacy raw response parses at once
        parsed = await parsed
    assert parsed.id == "msg_0176GK1qFwwpVM59jDYiKPjN"
    assert len(instrumented.finished()) == 1
