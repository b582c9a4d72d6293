"""Fuzzed answers through the real clients: instrumenting never changes what the user's code sees (issue 14).

Hypothesis builds response bodies and stream sequences (well-formed, partly broken, or not JSON at all, under
any of a few HTTP statuses); each one is served to the real ``openai``, ``anthropic``, ``boto3`` (botocore
answered at its HTTP layer) and ``google-genai`` clients, once plain and once instrumented. The two outcomes
(result as data, every chunk, exception type and message) must be identical, the instrumented call must record
exactly one span, and our guard must log no internal error. See ``fault_kit`` for the settings.
"""

from __future__ import annotations

import binascii
import io
import json
import struct
from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import botocore.config
import openai
import pytest
from botocore.awsrequest import AWSResponse
from google import genai
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor
from otel_agentmetrics.instrumentors.llm.bedrock import BedrockInstrumentor
from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .fault_kit import (
    FUZZ,
    Body,
    Broken,
    Kit,
    Probe,
    Replies,
    as_json,
    both,
    drain,
    internal_errors_logged,
    joined,
    json_or_raw,
    junk,
    statuses,
    text,
)
from .replay import http_module_of

HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module", autouse=True)
def _guard_logs() -> Iterator[None]:
    with internal_errors_logged():
        yield


def httpx_client(module: Any, replies: Replies, *, is_async: bool = False) -> Any:
    """An httpx client of the library's flavour whose every request gets ``replies``' current answer, served as
    an unread network stream (as a socket would)."""

    def handle(request: Any) -> Any:
        headers = {"content-type": "application/json", **replies.headers}
        return module.Response(replies.status, headers=headers, stream=module.ByteStream(replies.body), request=request)

    transport = module.MockTransport(handle)
    return module.AsyncClient(transport=transport) if is_async else module.Client(transport=transport)


# ---- OpenAI -----------------------------------------------------------------------------------------------------

OPENAI_HTTPX = http_module_of(openai)


def openai_usage(k: Kit) -> st.SearchStrategy[Any]:
    return k.obj(
        prompt_tokens=k.count,
        completion_tokens=k.count,
        total_tokens=k.count,
        prompt_tokens_details=k.field(k.obj(cached_tokens=k.count)),
        completion_tokens_details=k.field(k.obj(reasoning_tokens=k.count)),
    )


def openai_completion(k: Kit) -> st.SearchStrategy[Any]:
    tool_call = k.obj(
        id=k.field(text),
        type=k.field(st.just("function")),
        function=k.field(k.obj(name=k.field(text), arguments=k.field(text))),
    )
    message = k.obj(
        role=k.field(st.just("assistant")),
        content=k.field(text | st.none()),
        tool_calls=k.field(st.lists(tool_call, max_size=2)),
    )
    choice = k.obj(
        index=k.field(st.integers(0, 3)),
        message=k.field(message),
        finish_reason=k.field(st.sampled_from(["stop", "length", "tool_calls", "content_filter"])),
    )
    return k.obj(
        id=k.field(text),
        object=k.field(st.just("chat.completion")),
        created=k.field(st.integers(0, 2**31)),
        model=k.model,
        choices=k.field(st.lists(choice, max_size=3)),
        usage=k.field(openai_usage(k)),
        service_tier=k.field(st.sampled_from(["default", "flex"])),
        system_fingerprint=k.field(text),
    )


def openai_event(k: Kit) -> st.SearchStrategy[Body]:
    delta = k.obj(role=k.field(st.just("assistant")), content=k.field(text))
    choice = k.obj(
        index=k.field(st.integers(0, 3)),
        delta=k.field(delta),
        finish_reason=k.field(st.sampled_from(["stop", "length"]) | st.none()),
    )
    chunk = k.obj(
        id=k.field(text),
        object=k.field(st.just("chat.completion.chunk")),
        created=k.field(st.integers(0, 2**31)),
        model=k.model,
        choices=k.field(st.lists(choice, max_size=2)),
        usage=k.field(openai_usage(k) | st.none()),
    )
    events = [
        chunk.map(lambda c: as_json(c, b"data: ", b"\n\n")),
        chunk.map(lambda c: as_json(c, b"data: ", b"\n\n")),
        st.just(Body(b"data: [DONE]\n\n", False)),
        st.just(Body(b": keep-alive\n\n", False)),
        k.obj(error=k.obj(message=k.field(text), type=k.field(text))).map(lambda e: as_json(e, b"data: ", b"\n\n")),
    ]
    if k.broken:
        events.append(text.map(lambda t: Body(f"data: {t}\n\n".encode(), True)))
    return st.one_of(*events)


@pytest.fixture(scope="module")
def openai_probe() -> Iterator[tuple[Probe, Replies, openai.OpenAI]]:
    probe, replies = Probe(OpenAIInstrumentor), Replies()
    client = openai.OpenAI(
        api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0, http_client=httpx_client(OPENAI_HTTPX, replies)
    )
    yield probe, replies, client
    probe.close()


@FUZZ
@given(status=statuses, body=json_or_raw(both(openai_completion)))
def test_openai_chat_bodies(openai_probe: tuple[Probe, Replies, openai.OpenAI], status: int, body: Body) -> None:
    probe, replies, client = openai_probe
    replies.set(status, body)
    probe.check(body, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HELLO))  # type: ignore[arg-type]


@FUZZ
@given(status=statuses, events=both(lambda k: st.lists(openai_event(k), max_size=6)))
def test_openai_chat_streams(
    openai_probe: tuple[Probe, Replies, openai.OpenAI], status: int, events: list[Body]
) -> None:
    probe, replies, client = openai_probe
    body = joined(events)
    replies.set(status, body, **{"content-type": "text/event-stream"})
    probe.check(
        body,
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True),  # type: ignore[arg-type]
        drain,
    )


# ---- Anthropic --------------------------------------------------------------------------------------------------

ANTHROPIC_HTTPX = http_module_of(anthropic)


def anthropic_usage(k: Kit) -> st.SearchStrategy[Any]:
    return k.obj(
        input_tokens=k.count,
        output_tokens=k.count,
        cache_creation_input_tokens=k.count,
        cache_read_input_tokens=k.count,
    )


def anthropic_block(k: Kit) -> st.SearchStrategy[Any]:
    return st.one_of(
        k.obj(type=st.just("text"), text=k.field(text)),
        k.obj(
            type=st.just("tool_use"), id=k.field(text), name=k.field(text), input=k.field(st.dictionaries(text, junk))
        ),
        k.obj(type=st.just("thinking"), thinking=k.field(text), signature=k.field(text)),
        k.junk,
    )


def anthropic_message(k: Kit) -> st.SearchStrategy[Any]:
    return k.obj(
        id=k.field(text),
        type=k.field(st.just("message")),
        role=k.field(st.just("assistant")),
        model=k.model,
        content=k.field(st.lists(anthropic_block(k), max_size=3)),
        stop_reason=k.field(st.sampled_from(["end_turn", "max_tokens", "tool_use"])),
        stop_sequence=st.none(),
        usage=k.field(anthropic_usage(k)),
    )


def anthropic_event(k: Kit) -> st.SearchStrategy[Any]:
    index = k.field(st.integers(0, 2))
    delta = st.one_of(
        k.obj(type=st.just("text_delta"), text=k.field(text)),
        k.obj(type=st.just("input_json_delta"), partial_json=k.field(text)),
        k.junk,
    )
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("message_start"), "message": k.field(anthropic_message(k))}),
        st.fixed_dictionaries(
            {"type": st.just("content_block_start"), "index": index, "content_block": anthropic_block(k)}
        ),
        st.fixed_dictionaries({"type": st.just("content_block_delta"), "index": index, "delta": delta}),
        st.fixed_dictionaries({"type": st.just("content_block_stop"), "index": index}),
        st.fixed_dictionaries(
            {
                "type": st.just("message_delta"),
                "delta": k.field(k.obj(stop_reason=k.field(text), stop_sequence=st.none())),
                "usage": k.field(k.obj(output_tokens=k.count)),
            }
        ),
        st.just({"type": "message_stop"}),
        st.just({"type": "ping"}),
        st.fixed_dictionaries({"type": st.just("error"), "error": k.obj(type=k.field(text), message=k.field(text))}),
        st.dictionaries(text, junk, max_size=2).map(Broken) if k.broken else st.nothing(),
    ).map(anthropic_sse_event)


def anthropic_sse_event(event: Any) -> Body:
    body = as_json(event)
    data = json.loads(body.data)
    name = data.get("type") if isinstance(data, dict) and isinstance(data.get("type"), str) else "junk"
    return Body(f"event: {name}\ndata: ".encode() + body.data + b"\n\n", body.broken)


@pytest.fixture(scope="module")
def anthropic_probe() -> Iterator[tuple[Probe, Replies, anthropic.Anthropic]]:
    probe, replies = Probe(AnthropicInstrumentor), Replies()
    client = anthropic.Anthropic(api_key="k", max_retries=0, http_client=httpx_client(ANTHROPIC_HTTPX, replies))
    yield probe, replies, client
    probe.close()


@FUZZ
@given(status=statuses, body=json_or_raw(both(anthropic_message)))
def test_anthropic_message_bodies(
    anthropic_probe: tuple[Probe, Replies, anthropic.Anthropic], status: int, body: Body
) -> None:
    probe, replies, client = anthropic_probe
    replies.set(status, body)
    probe.check(
        body,
        lambda: client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=10, messages=HELLO),  # type: ignore[arg-type]
    )


anthropic_streams = both(lambda k: st.lists(anthropic_event(k), max_size=7))


@FUZZ
@given(status=statuses, events=anthropic_streams)
def test_anthropic_message_streams(
    anthropic_probe: tuple[Probe, Replies, anthropic.Anthropic], status: int, events: list[Body]
) -> None:
    probe, replies, client = anthropic_probe
    body = joined(events)
    replies.set(status, body, **{"content-type": "text/event-stream"})
    probe.check(
        body,
        lambda: client.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=10,
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
        ),
        drain,
    )


@FUZZ
@given(status=statuses, events=anthropic_streams)
def test_anthropic_stream_helper(
    anthropic_probe: tuple[Probe, Replies, anthropic.Anthropic], status: int, events: list[Body]
) -> None:
    """``messages.stream()`` accumulates the events itself: its final message must come out the same."""
    probe, replies, client = anthropic_probe
    body = joined(events)
    replies.set(status, body, **{"content-type": "text/event-stream"})

    def read(manager: Any) -> Any:
        with manager as stream:
            return [*drain(stream), stream.get_final_message()]

    probe.check(
        body,
        lambda: client.messages.stream(model="claude-3-5-haiku-20241022", max_tokens=10, messages=HELLO),  # type: ignore[arg-type]
        read,
    )


# ---- Bedrock (boto3) --------------------------------------------------------------------------------------------


def bedrock_usage(k: Kit) -> st.SearchStrategy[Any]:
    return k.obj(inputTokens=k.count, outputTokens=k.count, totalTokens=k.count)


def bedrock_converse(k: Kit) -> st.SearchStrategy[Any]:
    block = st.one_of(
        k.obj(text=k.field(text)),
        k.obj(toolUse=k.field(k.obj(toolUseId=k.field(text), name=k.field(text), input=st.dictionaries(text, junk)))),
        k.junk,
    )
    message = k.obj(role=k.field(st.just("assistant")), content=k.field(st.lists(block, max_size=3)))
    return k.obj(
        output=k.field(k.obj(message=k.field(message))),
        stopReason=k.field(st.sampled_from(["end_turn", "max_tokens", "tool_use"])),
        usage=k.field(bedrock_usage(k)),
        metrics=k.field(k.obj(latencyMs=k.field(st.integers(0, 10**5)))),
    )


def bedrock_invoke(k: Kit) -> st.SearchStrategy[Any]:
    titan = k.obj(
        inputTextTokenCount=k.count,
        results=k.field(
            st.lists(k.obj(tokenCount=k.count, outputText=k.field(text), completionReason=k.field(text)), max_size=2)
        ),
    )
    nova = k.obj(
        output=k.field(k.obj(message=k.field(k.obj(role=st.just("assistant"), content=st.lists(k.obj(text=text)))))),
        usage=k.field(bedrock_usage(k)),
        stopReason=k.field(text),
    )
    return st.one_of(anthropic_message(k), titan, nova)


bedrock_errors = st.sampled_from(["ValidationException", "ThrottlingException", "AccessDeniedException", "Unknown"])


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


def converse_stream_event(k: Kit) -> st.SearchStrategy[Body]:
    index = k.field(st.integers(0, 2))
    events = st.one_of(
        st.tuples(st.just("messageStart"), k.obj(role=k.field(st.just("assistant")))),
        st.tuples(
            st.just("contentBlockDelta"), k.obj(contentBlockIndex=index, delta=k.field(k.obj(text=k.field(text))))
        ),
        st.tuples(st.just("contentBlockStop"), k.obj(contentBlockIndex=index)),
        st.tuples(st.just("messageStop"), k.obj(stopReason=k.field(st.sampled_from(["end_turn", "max_tokens"])))),
        st.tuples(
            st.just("metadata"),
            k.obj(usage=k.field(bedrock_usage(k)), metrics=k.field(k.obj(latencyMs=k.field(st.integers(0, 10**5))))),
        ),
        st.tuples(st.sampled_from(["modelStreamErrorException", "throttlingException"]), k.obj(message=k.field(text))),
    )
    return events.map(lambda pair: _event_frame(*pair))


def _event_frame(name: str, payload: Any) -> Body:
    body = as_json(payload)
    if name.endswith("Exception"):
        headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    else:
        headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return Body(_frame(headers, body.data), body.broken)


@pytest.fixture(scope="module")
def bedrock_probe() -> Iterator[tuple[Probe, Replies, Any]]:
    probe, replies = Probe(BedrockInstrumentor), Replies()
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),  # a 503 is answered once, not retried
    )

    def reply(request: Any, **_: Any) -> AWSResponse:
        headers = HTTPHeaderDict({"Content-Length": str(len(replies.body)), **replies.headers})
        raw = HTTPResponse(body=io.BytesIO(replies.body), headers=headers, status=replies.status, preload_content=False)
        return AWSResponse(request.url, replies.status, headers, raw)

    client.meta.events.register("before-send.bedrock-runtime", reply)
    yield probe, replies, client
    probe.close()


def _bedrock_reply(replies: Replies, status: int, body: Body, error: str) -> None:
    if status == 200:
        replies.set(status, body, **{"Content-Type": "application/json"})
    else:
        replies.set(status, body, **{"Content-Type": "application/json", "x-amzn-ErrorType": error})


def _read_body(result: Any) -> Any:
    return {**result, "body": result["body"].read()} if isinstance(result, dict) and "body" in result else result


SAY_HI = [{"role": "user", "content": [{"text": "hi"}]}]


@FUZZ
@given(status=statuses, body=json_or_raw(both(bedrock_converse)), error=bedrock_errors)
def test_bedrock_converse_bodies(
    bedrock_probe: tuple[Probe, Replies, Any], status: int, body: Body, error: str
) -> None:
    probe, replies, client = bedrock_probe
    _bedrock_reply(replies, status, body, error)
    probe.check(body, lambda: client.converse(modelId="amazon.nova-micro-v1:0", messages=SAY_HI))


@FUZZ
@given(
    status=statuses,
    body=json_or_raw(both(bedrock_invoke)),
    model_id=st.sampled_from(
        ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-lite-v1", "amazon.nova-micro-v1:0"]
    ),
    error=bedrock_errors,
)
def test_bedrock_invoke_bodies(
    bedrock_probe: tuple[Probe, Replies, Any], status: int, body: Body, model_id: str, error: str
) -> None:
    probe, replies, client = bedrock_probe
    _bedrock_reply(replies, status, body, error)
    request = json.dumps({"messages": HELLO, "max_tokens": 10, "anthropic_version": "bedrock-2023-05-31"})
    probe.check(body, lambda: client.invoke_model(modelId=model_id, body=request), _read_body)


@FUZZ
@given(events=both(lambda k: st.lists(converse_stream_event(k), max_size=6)), cut=st.sampled_from([0, 0, 0, 1, 5]))
def test_bedrock_converse_streams(bedrock_probe: tuple[Probe, Replies, Any], events: list[Body], cut: int) -> None:
    """Event-stream frames in any order, exception frames among them, the last frame sometimes cut short."""
    probe, replies, client = bedrock_probe
    body = joined(events)
    if cut:
        body = Body(body.data[:-cut], body.broken)
    replies.set(200, body, **{"Content-Type": "application/vnd.amazon.eventstream"})

    def read(result: Any) -> Any:
        return {**result, "stream": drain(result["stream"])}

    probe.check(body, lambda: client.converse_stream(modelId="amazon.nova-micro-v1:0", messages=SAY_HI), read)


# ---- google-genai -----------------------------------------------------------------------------------------------


def gemini_response(k: Kit) -> st.SearchStrategy[Any]:
    usage = k.obj(
        promptTokenCount=k.count,
        candidatesTokenCount=k.count,
        totalTokenCount=k.count,
        thoughtsTokenCount=k.count,
        cachedContentTokenCount=k.count,
    )
    content = k.obj(role=k.field(st.just("model")), parts=k.field(st.lists(k.obj(text=k.field(text)), max_size=2)))
    candidate = k.obj(
        content=k.field(content),
        finishReason=k.field(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"])),
        index=k.field(st.integers(0, 2)),
    )
    return k.obj(
        candidates=k.field(st.lists(candidate, max_size=2)),
        usageMetadata=k.field(usage),
        modelVersion=k.model,
        responseId=k.field(text),
    )


def gemini_event(k: Kit) -> st.SearchStrategy[Body]:
    error = k.obj(
        error=k.obj(code=k.field(st.sampled_from([400, 429, 500, 503])), message=k.field(text), status=k.field(text))
    )
    events = [
        gemini_response(k).map(lambda r: as_json(r, b"data: ", b"\r\n\r\n")),
        gemini_response(k).map(lambda r: as_json(r, b"data: ", b"\r\n\r\n")),
        error.map(lambda e: as_json(e, b"data: ", b"\r\n\r\n")),
    ]
    if k.broken:
        events.append(text.map(lambda t: Body(f"data: {t}\r\n\r\n".encode(), True)))
    return st.one_of(*events)


@pytest.fixture(scope="module")
def gemini_probe() -> Iterator[tuple[Probe, Replies, genai.Client]]:
    import httpx

    probe, replies = Probe(GoogleGenAIInstrumentor), Replies()
    client = genai.Client(api_key="k", http_options=types.HttpOptions(httpx_client=httpx_client(httpx, replies)))
    yield probe, replies, client
    probe.close()


@FUZZ
@given(status=statuses, body=json_or_raw(both(gemini_response)))
def test_gemini_bodies(gemini_probe: tuple[Probe, Replies, genai.Client], status: int, body: Body) -> None:
    probe, replies, client = gemini_probe
    replies.set(status, body)
    probe.check(body, lambda: client.models.generate_content(model="gemini-2.5-flash", contents="hi"))


@FUZZ
@given(status=statuses, events=both(lambda k: st.lists(gemini_event(k), max_size=5)))
def test_gemini_streams(gemini_probe: tuple[Probe, Replies, genai.Client], status: int, events: list[Body]) -> None:
    probe, replies, client = gemini_probe
    body = joined(events)
    replies.set(status, body, **{"content-type": "text/event-stream"})
    probe.check(body, lambda: client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"), drain)
