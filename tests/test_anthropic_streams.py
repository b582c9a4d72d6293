"""Anthropic streams replayed from the recorded cassettes: ``create(stream=True)`` and the ``messages.stream()``
helper, sync and async, with exact usage, cost and content; errors, early exits and user exceptions."""

from __future__ import annotations

import json

import anthropic
import pytest

from .anthropic_kit import HELLO, HTTPX, MODEL, cassette_client, instrument

HI = [{"role": "user", "content": "Say hi."}]
# 13 input and 5 output tokens of Claude Sonnet 4 at $3 and $15 per million.
HELLO_COST = 13 * 3.00 / 1e6 + 5 * 15.00 / 1e6  # $0.000114


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


def _assert_hello(span, response_id: str) -> None:
    attributes = span.attributes
    assert span.name == f"chat {MODEL}"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == response_id
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["gen_ai.usage.input_tokens"] == 13
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 0
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.000114, rel=1e-9)
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert span.status.status_code.name == "UNSET"


def test_create_stream(instrumented):
    client = cassette_client("test_sync_messages_create_streaming")
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
    assert isinstance(stream, anthropic.Stream)
    events = list(stream)
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    _assert_hello(instrumented.only_span(), "msg_01VY8H3oPFs4WWVnJXFDxNhU")
    assert pytest.approx(0.000114, rel=1e-12) == HELLO_COST
    points = instrumented.metric_points("gen_ai.client.operation.time_to_first_chunk")
    assert sum(p.count for p in points) == 1
    gaps = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert sum(p.count for p in gaps) == len(events) - 1


async def test_async_create_stream(instrumented):
    client = cassette_client("test_sync_messages_create_streaming_aggregates_cache_tokens", is_async=True)
    stream = await client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    text = "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])
    assert text == "Hello!"
    _assert_hello(instrumented.only_span(), "msg_01BpXsyrS2qCTuzQnTbLsB9w")


def test_stream_content_capture(capturing):
    client = cassette_client("test_sync_messages_create_streaming_captures_content")
    for _ in client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True):
        pass
    attributes = capturing.only_span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello in one word."}]}
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}], "finish_reason": "end_turn"}
    ]


def test_stream_iteration_many_deltas(instrumented):
    client = cassette_client("test_sync_messages_create_streaming_iteration")
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HI, stream=True)
    text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    assert text == "Hi! How are you doing today?"
    attributes = instrumented.only_span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (10, 11)
    # 10 x $3/M + 11 x $15/M
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.000195, rel=1e-9)


def test_stream_delegates_response_attribute(instrumented):
    client = cassette_client("test_sync_messages_create_streaming_delegates_response_attribute")
    with client.messages.create(model=MODEL, max_tokens=100, messages=HI, stream=True) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        list(stream)
    assert instrumented.only_span().attributes["gen_ai.usage.output_tokens"] == 11


def test_stream_user_exception_ends_span_with_it(instrumented):
    client = cassette_client("test_sync_messages_create_streaming_user_exception")
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
    with pytest.raises(ValueError, match="user code"), stream:
        for event in stream:
            if event.type == "content_block_delta":
                raise ValueError("user code")
    span = instrumented.only_span()
    assert span.attributes["error.type"] == "ValueError"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["gen_ai.usage.input_tokens"] == 13
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_stream_finalize_idempotent(instrumented):
    client = cassette_client("test_stream_wrapper_finalize_idempotent")
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
    list(stream)
    stream.close()
    stream.close()
    with stream:
        pass
    del stream
    span = instrumented.only_span()
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert sum(p.count for p in instrumented.metric_points("gen_ai.client.operation.duration")) == 1


def test_instrumentation_error_is_swallowed(otel, monkeypatch):
    """Fail open: a bug in our stream reading loses telemetry, never an event of the user's stream."""
    from otel_agentmetrics.instrumentors.llm.anthropic import _streams

    def broken(self):
        raise RuntimeError("bug in the accumulator")

    monkeypatch.setenv("AGENTMETRICS_RAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(_streams.MessageStream, "take", broken)
    instrumentor = instrument(otel)
    try:
        client = cassette_client("test_sync_messages_create_instrumentation_error_swallowed")
        stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
        events = list(stream)
    finally:
        instrumentor.uninstrument()
    assert events[-1].type == "message_stop"
    span = otel.only_span()
    assert span.name == f"chat {MODEL}"
    assert "error.type" not in span.attributes


def test_stream_helper(instrumented):
    client = cassette_client("test_sync_messages_stream")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        assert "".join(stream.text_stream) == "Hello!"
        final = stream.get_final_message()
    assert final.usage.output_tokens == 5
    _assert_hello(instrumented.only_span(), "msg_01FpWuSsvRgJp3eYbdHBinNp")


def test_stream_helper_get_final_message_only(instrumented):
    client = cassette_client("test_sync_messages_stream_delegates_response_attribute")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HI) as stream:
        assert stream.response.status_code == 200
        assert stream.get_final_text() == "Hi! How are you doing today?"
    attributes = instrumented.only_span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (10, 11)


async def test_async_stream_helper(instrumented):
    client = cassette_client("test_sync_messages_stream", is_async=True)
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        assert "".join([text async for text in stream.text_stream]) == "Hello!"
        final = await stream.get_final_message()
    assert final.id == "msg_01FpWuSsvRgJp3eYbdHBinNp"
    _assert_hello(instrumented.only_span(), "msg_01FpWuSsvRgJp3eYbdHBinNp")


def test_stream_helper_content_capture(capturing):
    client = cassette_client("test_sync_messages_stream_captures_content")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
    output = json.loads(capturing.only_span().attributes["gen_ai.output.messages"])
    assert output == [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "end_turn"}]


def test_stream_helper_api_error(instrumented):
    client = cassette_client("test_sync_messages_stream_api_error")
    manager = client.messages.stream(model="invalid-model-name", max_tokens=100, messages=HELLO)
    with pytest.raises(anthropic.NotFoundError), manager:
        pass
    span = instrumented.only_span()
    assert span.name == "chat invalid-model-name"
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.status.status_code.name == "ERROR"


def test_stream_helper_closed_early(instrumented):
    client = cassette_client("test_sync_messages_stream_closed_early_by_caller")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        for event in stream:
            if event.type == "message_start":
                break
        stream.close()
    span = instrumented.only_span()
    assert span.status.status_code.name == "UNSET"
    assert span.attributes["gen_ai.usage.input_tokens"] == 13
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_stream_helper_interrupted_mid_iteration(instrumented):
    client = cassette_client("test_sync_messages_stream_interrupted_mid_iteration")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        for event in stream:
            if event.type == "content_block_start":
                break
    span = instrumented.only_span()
    assert "gen_ai.response.finish_reasons" not in span.attributes
    assert "error.type" not in span.attributes


def test_stream_helper_user_exception(instrumented):
    client = cassette_client("test_sync_messages_stream_user_exception")
    manager = client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO)
    with pytest.raises(KeyError), manager as stream:
        for _ in stream.text_stream:
            raise KeyError("user code")
    span = instrumented.only_span()
    assert span.attributes["error.type"] == "KeyError"
    assert span.status.status_code.name == "ERROR"


def test_beta_stream_helper(instrumented):
    client = cassette_client("test_sync_messages_stream")
    with client.beta.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        assert stream.get_final_text() == "Hello!"
    _assert_hello(instrumented.only_span(), "msg_01FpWuSsvRgJp3eYbdHBinNp")


class _CutStream(HTTPX.SyncByteStream):
    """A response body that breaks off half-way with a network error, as a dropped connection does."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __iter__(self):
        yield self.content[: len(self.content) // 2]
        raise HTTPX.ReadError("connection reset by peer")

    def close(self) -> None:
        pass


def test_stream_propagates_a_network_error_mid_stream(instrumented):
    from .replay import Cassette

    cassette = Cassette("anthropic/test_sync_messages_create_stream_propagation_error")
    recorded = cassette.handler(HTTPX)

    def handle(request):
        response = recorded(request)
        return HTTPX.Response(200, headers=response.headers, stream=_CutStream(response.content), request=request)

    client = anthropic.Anthropic(
        api_key="test_anthropic_api_key", http_client=HTTPX.Client(transport=HTTPX.MockTransport(handle)), max_retries=0
    )
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
    seen = []
    with pytest.raises(Exception) as caught:  # whatever the client raises reaches the user untouched
        for event in stream:
            seen.append(event.type)
    assert isinstance(caught.value, HTTPX.ReadError) or isinstance(caught.value.__cause__, HTTPX.ReadError)
    assert seen[0] == "message_start"
    span = instrumented.only_span()
    assert span.attributes["error.type"] == type(caught.value).__qualname__
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["gen_ai.usage.input_tokens"] == 13
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_zero_cache_counts_are_reported_as_zero(instrumented):
    client = cassette_client("test_sync_messages_create_aggregates_cache_tokens")
    message = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (0, 0)
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 13
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 0
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.000114, rel=1e-9)
