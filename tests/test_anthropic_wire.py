"""Anthropic shapes no cassette holds, answered from the documented wire format through the real client.

Prompt caching with non-zero counts, thinking-token details, streamed tool use (``input_json_delta``) and
thinking, the Bedrock and Vertex clients, the legacy Text Completions API. Bodies follow
https://docs.anthropic.com/en/api/messages and /en/api/messages-streaming (Bedrock and Vertex return the same
Messages body). Dollars are computed here from Anthropic's published per-million prices.
"""

from __future__ import annotations

import importlib.util
import json

import anthropic
import pytest

from .anthropic_kit import HAIKU_3_5, HELLO, MODEL, SONNET_4, instrument, message_body, sse, usd, wire_client


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


CACHED_USAGE = {
    "input_tokens": 20,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 500,
    "output_tokens": 50,
}
# 20 x $3 + 1000 x $0.30 (cache read) + 500 x $3.75 (5-minute cache write) + 50 x $15, per million tokens.
CACHED_COST = 0.002985


def test_prompt_caching_counts_and_cost(instrumented):
    client = wire_client(message_body([{"type": "text", "text": "Hi"}], CACHED_USAGE))
    system = [{"type": "text", "text": "A long manual ...", "cache_control": {"type": "ephemeral"}}]
    client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, system=system)
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1520  # the conventions' total: 20 + 1000 + 500
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 500
    assert attributes["gen_ai.usage.output_tokens"] == 50
    expected = (
        usd(20, SONNET_4["input"])
        + usd(1000, SONNET_4["cache_read"])
        + usd(500, SONNET_4["cache_write_5m"])
        + usd(50, SONNET_4["output"])
    )
    assert expected == pytest.approx(CACHED_COST, rel=1e-12)
    assert attributes["gen_ai.usage.cost"] == pytest.approx(CACHED_COST, rel=1e-9)
    input_points = [
        p
        for p in instrumented.metric_points("gen_ai.client.token.usage")
        if p.attributes["gen_ai.token.type"] == "input"
    ]
    assert [p.sum for p in input_points] == [1520]


def test_thinking_tokens_when_reported(instrumented):
    usage = {"input_tokens": 40, "output_tokens": 400, "output_tokens_details": {"thinking_tokens": 300}}
    content = [{"type": "thinking", "thinking": "17 x 19 ...", "signature": "sig"}, {"type": "text", "text": "323"}]
    client = wire_client(message_body(content, usage))
    client.messages.create(
        model=MODEL, max_tokens=2000, messages=HELLO, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 300
    assert attributes["gen_ai.usage.output_tokens"] == 400  # reasoning included, as billed
    # 40 x $3/M + 400 x $15/M: thinking is billed as output, once.
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.00012 + 0.006, rel=1e-9)


def _tool_stream_events() -> list[dict]:
    start_usage = {
        "input_tokens": 400,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "output_tokens": 1,
    }
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_tools",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [],
                "stop_reason": None,
                "usage": start_usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need the "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {}},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ris", "unit"'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ': "celsius"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_rome", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Rome"}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            # Newer API versions repeat the input side, cumulative, in message_delta: it replaces message_start's.
            "usage": {"input_tokens": 400, "cache_read_input_tokens": 100, "output_tokens": 90},
        },
        {"type": "message_stop"},
    ]


TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather by city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}},
    }
]


@pytest.mark.parametrize("entry", ["create", "helper"])
def test_streamed_tool_use_and_thinking(capturing, entry):
    client = wire_client(sse(*_tool_stream_events()), sse=True)
    kwargs = {"model": MODEL, "max_tokens": 500, "messages": HELLO, "tools": TOOLS}
    if entry == "create":
        for _ in client.messages.create(stream=True, **kwargs):
            pass
    else:
        with client.messages.stream(**kwargs) as stream:
            final = stream.get_final_message()
        assert final.content[1].input == {"city": "Paris", "unit": "celsius"}
    attributes = capturing.only_span().attributes
    assert attributes["agentmetrics.response.tool_call_ids"] == ("toolu_paris", "toolu_rome")
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert attributes["gen_ai.usage.input_tokens"] == 500  # 400 + 100 read from cache, as message_delta says
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 90
    # 400 x $3/M + 100 x $0.30/M + 90 x $15/M
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.0012 + 0.00003 + 0.00135, rel=1e-9)
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Need the weather."},
                {
                    "type": "tool_call",
                    "id": "toolu_paris",
                    "name": "get_weather",
                    "arguments": {"city": "Paris", "unit": "celsius"},
                },
                {"type": "tool_call", "id": "toolu_rome", "name": "get_weather", "arguments": {"city": "Rome"}},
            ],
            "finish_reason": "tool_use",
        }
    ]
    assert json.loads(attributes["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather by city",
            "parameters": TOOLS[0]["input_schema"],
        }
    ]


def test_tool_results_in_input_messages(capturing):
    client = wire_client(
        message_body([{"type": "text", "text": "It is 21C in Paris."}], {"input_tokens": 9, "output_tokens": 8})
    )
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_paris", "content": "21C"}]},
    ]
    client.messages.create(model=MODEL, max_tokens=100, messages=messages, tools=TOOLS)
    assert json.loads(capturing.only_span().attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "toolu_paris", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_paris", "response": "21C"}]},
    ]


HAIKU_USAGE = {"input_tokens": 100, "output_tokens": 20}
# 100 x $0.80/M + 20 x $4/M: Claude 3.5 Haiku, the same list price on Bedrock and Vertex as first-party.
HAIKU_COST = 0.00016


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_bedrock_client(instrumented, is_async):
    factory = anthropic.AsyncAnthropicBedrock if is_async else anthropic.AnthropicBedrock
    client = wire_client(
        {**message_body([{"type": "text", "text": "Hi"}], HAIKU_USAGE), "model": "claude-3-5-haiku-20241022"},
        is_async=is_async,
        factory=lambda **kw: factory(
            aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-east-1", **kw
        ),
    )
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    result = client.messages.create(model=model, max_tokens=100, messages=HELLO)
    if is_async:
        await result
    (request,) = client.wire.requests
    assert request.url.path == f"/model/{model}/invoke"
    span = instrumented.only_span()
    assert span.name == f"chat {model}"
    attributes = span.attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["server.address"] == "bedrock-runtime.us-east-1.amazonaws.com"
    assert attributes["server.port"] == 443
    assert attributes["gen_ai.request.model"] == model
    assert usd(100, HAIKU_3_5["input"]) + usd(20, HAIKU_3_5["output"]) == pytest.approx(HAIKU_COST, rel=1e-12)
    assert attributes["gen_ai.usage.cost"] == pytest.approx(HAIKU_COST, rel=1e-9)


def test_vertex_client(instrumented):
    client = wire_client(
        {**message_body([{"type": "text", "text": "Hi"}], HAIKU_USAGE), "model": "claude-3-5-haiku-20241022"},
        factory=lambda **kw: anthropic.AnthropicVertex(
            access_token="token", region="us-east5", project_id="proj", **kw
        ),
    )
    model = "claude-3-5-haiku@20241022"
    client.messages.create(model=model, max_tokens=100, messages=HELLO)
    (request,) = client.wire.requests
    assert request.url.path.endswith(f"/publishers/anthropic/models/{model}:rawPredict")
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attributes["server.address"] == "us-east5-aiplatform.googleapis.com"
    assert attributes["gen_ai.request.model"] == model
    assert attributes["gen_ai.usage.cost"] == pytest.approx(HAIKU_COST, rel=1e-9)


def test_bedrock_beta_messages(instrumented):
    client = wire_client(
        message_body([{"type": "text", "text": "Hi"}], HAIKU_USAGE),
        factory=lambda **kw: anthropic.AnthropicBedrock(
            aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-west-2", **kw
        ),
    )
    client.beta.messages.create(model="anthropic.claude-3-5-haiku-20241022-v1:0", max_tokens=100, messages=HELLO)
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["server.address"] == "bedrock-runtime.us-west-2.amazonaws.com"


@pytest.mark.skipif(
    importlib.util.find_spec("anthropic.resources.completions") is None,
    reason="this anthropic release has no Text Completions API (removed in 2.x); the older-release run covers it",
)
@pytest.mark.parametrize("stream", [False, True])
def test_legacy_completions(capturing, stream):
    completion = {
        "type": "completion",
        "id": "compl_01",
        "completion": " Hello!",
        "stop_reason": "stop_sequence",
        "model": "claude-2.1",
    }
    kwargs = {"model": "claude-2.1", "max_tokens_to_sample": 50, "prompt": "\n\nHuman: Hi\n\nAssistant:"}
    if stream:
        client = wire_client(
            sse({**completion, "completion": " Hel", "stop_reason": None}, {**completion, "completion": "lo!"}),
            sse=True,
        )
        assert "".join(c.completion for c in client.completions.create(stream=True, **kwargs)) == " Hello!"
    else:
        client = wire_client(completion)
        client.completions.create(**kwargs)
    span = capturing.only_span()
    assert span.name == "text_completion claude-2.1"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.request.max_tokens"] == 50
    assert span.attributes["gen_ai.response.id"] == "compl_01"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop_sequence",)
    output = json.loads(span.attributes["gen_ai.output.messages"])
    assert output[0]["parts"] == [{"type": "text", "content": " Hello!"}]


@pytest.mark.skipif(
    not hasattr(anthropic.resources.beta.messages.Messages, "thread"), reason="this anthropic release has no threads"
)
def test_message_thread_turn_is_one_model_call(instrumented):
    """``beta.messages.thread()`` (and the tool runner built on it) sends each turn through ``beta.messages.create``."""
    client = wire_client(message_body([{"type": "text", "text": "Hi"}], {"input_tokens": 10, "output_tokens": 3}))
    thread = client.beta.messages.thread(model=MODEL, max_tokens=50)
    reply = thread.send({"role": "user", "content": "hi"})
    assert reply.content[0].text == "Hi"
    attributes = instrumented.only_span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (10, 3)
    # 10 x $3/M + 3 x $15/M
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.000075, rel=1e-9)
