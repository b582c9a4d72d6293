"""The stream contract for ConverseStream and InvokeModelWithResponseStream, through a real boto3 client.

Each stream ends its span exactly once whether it is exhausted, closed, abandoned (``break``, then garbage
collected) or broken by an error event, and the user sees the recorded events unchanged.
"""

from __future__ import annotations

import binascii
import gc
import json
import struct
from typing import Any

import pytest
import yaml
from botocore.eventstream import EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError

from .replay import CASSETTES
from .replay_botocore import BedrockReplay
from .test_bedrock import SAY_TEST, base, instrument, pop_cost, recorded_body

CONVERSE_STREAM = "bedrock/test_converse_stream_with_content"


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


def converse_stream(name: str = CONVERSE_STREAM) -> dict[str, Any]:
    return BedrockReplay(name).client.converse_stream(modelId="amazon.titan-text-lite-v1", messages=SAY_TEST)


def test_converse_stream_completed(instrumented):
    response = converse_stream()
    assert isinstance(response["stream"], EventStream)  # the proxy keeps the type the user checks for
    assert instrumented.finished() == []  # the span stays open until the stream ends
    events = list(response["stream"])
    assert events == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "I am here and ready to assist"}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "max_tokens"}},
        {
            "metadata": {
                "usage": {"inputTokens": 8, "outputTokens": 10, "totalTokens": 18},
                "metrics": {"latencyMs": 605},
            }
        },
    ]
    span = instrumented.only_span()
    assert span.name == "chat amazon.titan-text-lite-v1"
    attributes, cost = pop_cost(span.attributes)
    assert cost == pytest.approx(8 * 0.15e-6 + 10 * 0.20e-6)
    first_chunk = attributes.pop("gen_ai.response.time_to_first_chunk")
    assert first_chunk > 0 and attributes.pop("gen_ai.client.operation.time_to_first_chunk") == first_chunk
    assert attributes == {
        **base("amazon.titan-text-lite-v1"),
        "gen_ai.request.stream": True,
        "gen_ai.response.finish_reasons": ("max_tokens",),
        "gen_ai.usage.input_tokens": 8,
        "gen_ai.usage.output_tokens": 10,
        "aws.request_id": "77f2fab1-08a9-4235-a402-e0e5f3a5e117",
    }
    (first,) = instrumented.metric_points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == 4  # five events, four gaps
    # Iterating again after the end neither fails differently nor ends the span twice.
    assert list(response["stream"]) == []
    assert len(instrumented.finished()) == 1


def test_converse_stream_tool_calls_with_content(capturing):
    name = "test_converse_stream_with_content_tool_call.yaml"
    replay = BedrockReplay(f"bedrock/{name}")
    response = replay.client.converse_stream(modelId="amazon.nova-micro-v1:0", **json.loads(recorded_body(name)))
    for _ in response["stream"]:
        pass
    span = capturing.only_span()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (415, 202)
    assert span.attributes["agentmetrics.response.tool_call_ids"] == (
        "tooluse_JZ11QcxSQ3m3xacMQKVIKw",
        "tooluse_-hxBEEwGRc-VQqC2i7SFqg",
    )
    (output,) = json.loads(span.attributes["gen_ai.output.messages"])
    assert output["parts"][0]["content"].startswith("<thinking> The User has asked for the current weather")
    assert output["parts"][1:] == [
        {
            "type": "tool_call",
            "id": "tooluse_JZ11QcxSQ3m3xacMQKVIKw",
            "name": "get_current_weather",
            "arguments": '{"location":"Seattle"}',
        },
        {
            "type": "tool_call",
            "id": "tooluse_-hxBEEwGRc-VQqC2i7SFqg",
            "name": "get_current_weather",
            "arguments": '{"location":"San Francisco"}',
        },
    ]


def test_converse_stream_break_then_garbage_collected(instrumented):
    response = converse_stream()
    for event in response["stream"]:
        assert "messageStart" in event
        break
    assert instrumented.finished() == []
    del response, event
    gc.collect()
    span = instrumented.only_span()
    assert span.status.status_code.name == "UNSET"
    assert "gen_ai.usage.input_tokens" not in span.attributes  # the usage event was never read
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0


def test_converse_stream_closed(instrumented):
    response = converse_stream()
    stream = response["stream"]
    next(iter(stream))
    stream.close()
    assert len(instrumented.finished()) == 1
    stream.close()  # closing twice is harmless and ends nothing twice
    assert len(instrumented.finished()) == 1


def test_user_exception_in_the_loop_is_not_a_model_error(instrumented):
    response = converse_stream()
    with pytest.raises(KeyError):
        for event in response["stream"]:
            raise KeyError(event)
    del response
    gc.collect()
    assert instrumented.only_span().status.status_code.name == "UNSET"


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One ``application/vnd.amazon.eventstream`` message, as AWS documents the format (string headers only)."""
    encoded = b"".join(
        struct.pack("!B", len(k)) + k.encode() + b"\x07" + struct.pack("!H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack("!I", binascii.crc32(message))


def test_converse_stream_error_event(instrumented, monkeypatch):
    """Bedrock reports a mid-stream failure as an exception frame; botocore raises it while iterating."""
    path = CASSETTES / "bedrock" / "test_converse_stream_handles_event_stream_error.yaml"
    data = yaml.load(path.read_text(), Loader=yaml.Loader)
    body = data["interactions"][0]["response"]["body"]["string"]
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    frames = list(buffer)
    assert len(frames) == 5
    # Keep the first two recorded frames, then the error Bedrock sends when the model fails mid-stream.
    first_two = body[: frames[0].prelude.total_length + frames[1].prelude.total_length]
    error = _frame(
        {
            ":exception-type": "modelStreamErrorException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        b'{"message":"The model stream failed","originalStatusCode":500}',
    )
    data["interactions"][0]["response"]["body"]["string"] = first_two + error
    replay = BedrockReplay("bedrock/test_converse_stream_handles_event_stream_error")
    replay.cassette.interactions = data["interactions"]
    response = replay.client.converse_stream(modelId="amazon.titan-text-lite-v1", messages=SAY_TEST)
    seen = []
    with pytest.raises(EventStreamError, match="The model stream failed"):
        for event in response["stream"]:
            seen.append(event)
    assert [next(iter(event)) for event in seen] == ["messageStart", "contentBlockDelta"]
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "EventStreamError"
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "EventStreamError"


def invoke_stream(name: str, model: str) -> dict[str, Any]:
    replay = BedrockReplay(f"bedrock/{name}")
    return replay.client.invoke_model_with_response_stream(modelId=model, body=recorded_body(name))


def test_invoke_stream_anthropic(instrumented):
    response = invoke_stream(
        "test_invoke_model_with_response_stream_with_content[anthropic.claude].yaml", "anthropic.claude-v2"
    )
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert "".join(c["delta"].get("text", "") for c in chunks if c["type"] == "content_block_delta") == (
        "Okay, I will repeat: This is a test"
    )
    span = instrumented.only_span()
    assert span.name == "chat anthropic.claude-v2"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.request.max_tokens"] == 10
    assert span.attributes["gen_ai.response.id"] == "msg_bdrk_01Wh9w6Tv2opkib67YP3L9B6"
    assert span.attributes["gen_ai.response.model"] == "claude-2.0"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("max_tokens",)
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (14, 10)


def test_invoke_stream_prefers_bedrock_invocation_metrics(capturing):
    """The Claude body says 134 output tokens, Bedrock's invocation metrics (what it bills) say 90: we report 90."""
    name = "test_invoke_model_with_response_stream_with_content_tool_call[anthropic.claude].yaml"
    response = invoke_stream(name, "us.anthropic.claude-3-5-sonnet-20240620-v1:0")
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert chunks[-2]["usage"] == {"output_tokens": 134}
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 90
    span = capturing.only_span()
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (392, 90)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    (output,) = json.loads(span.attributes["gen_ai.output.messages"])
    assert output["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_bdrk_01KatiGijVFb9yuMPcnVk38e",
        "name": "get_current_weather",
        "arguments": '{"location": "Seattle"}',
    }


def test_invoke_stream_nova(instrumented):
    response = invoke_stream(
        "test_invoke_model_with_response_stream_with_content[amazon.nova].yaml", "amazon.nova-micro-v1:0"
    )
    assert len(list(response["body"])) == 23
    span = instrumented.only_span()
    assert span.name == "chat amazon.nova-micro-v1:0"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("max_tokens",)
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (5, 10)
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == 22


def test_invoke_stream_abandoned(instrumented):
    response = invoke_stream(
        "test_invoke_model_with_response_stream_with_content[amazon.nova].yaml", "amazon.nova-micro-v1:0"
    )
    body = response["body"]
    next(iter(body))
    del response, body
    gc.collect()
    span = instrumented.only_span()
    assert "gen_ai.usage.output_tokens" not in span.attributes


NOVA_STREAM = "test_invoke_model_with_response_stream_with_content[amazon.nova].yaml"


def test_invoke_stream_closed(instrumented):
    response = invoke_stream(NOVA_STREAM, "amazon.nova-micro-v1:0")
    next(iter(response["body"]))
    response["body"].close()
    span = instrumented.only_span()
    assert span.status.status_code.name == "UNSET"
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_invoke_stream_error_event(instrumented):
    """A throttling exception frame after two recorded chunks: botocore raises it, the span records it."""
    path = CASSETTES / "bedrock" / NOVA_STREAM
    data = yaml.load(path.read_text(), Loader=yaml.Loader)
    body = data["interactions"][0]["response"]["body"]["string"]
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    frames = list(buffer)
    first_two = body[: frames[0].prelude.total_length + frames[1].prelude.total_length]
    error = _frame(
        {":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"},
        b'{"message":"Too many requests, please wait before trying again."}',
    )
    data["interactions"][0]["response"]["body"]["string"] = first_two + error
    replay = BedrockReplay(f"bedrock/{NOVA_STREAM}")
    replay.cassette.interactions = data["interactions"]
    response = replay.client.invoke_model_with_response_stream(
        modelId="amazon.nova-micro-v1:0", body=recorded_body(NOVA_STREAM)
    )
    with pytest.raises(EventStreamError, match="Too many requests"):
        list(response["body"])
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "EventStreamError"
