"""The stream contract: instrumented streams behave exactly like uninstrumented ones, and end one span.

Matrix: sync/async x create / ``.stream()`` helper / ``with_raw_response`` / ``with_streaming_response`` x
completed / break out of a ``with`` block / ``close()`` / an error event mid-stream / garbage-collected unconsumed.
Each scenario runs twice against the real client, without and with instrumentation; what the user sees (every
object's type and content, in order, and the exception raised) must be equal, and the instrumented run must have
finished exactly one span holding what was seen. The server speaks the documented Chat Completions SSE format.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import openai
import pytest

from .openai_kit import chat_helpers, client_answering, httpx, instrument

ENTRIES = ("create", "helper", "raw", "streaming_response")
ENDINGS = ("completed", "break", "close", "error", "gc")
KW: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}]}
WORDS = ["This", " is", " a", " test", "."]


def _sse(error: bool) -> bytes:
    base = {"id": "chatcmpl-contract", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024"}
    events: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": w}, "finish_reason": None}]}
        for w in WORDS
    ]
    if error:
        events.insert(3, {"error": {"message": "overloaded", "type": "server_error"}})
    else:
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append(
            {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}}
        )
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def _handler(error: bool) -> Any:
    def handle(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_sse(error), request=request)

    return handle


def _seen(item: Any) -> tuple[str, Any]:
    dump = getattr(item, "model_dump", None)
    return type(item).__qualname__, dump() if dump is not None else repr(item)


def _open(client: Any, entry: str) -> tuple[Any, Any, list[Any]]:
    """``(stream, manager to exit or None, what the user saw while opening)``."""
    opts = {**KW, "stream_options": {"include_usage": True}}
    if entry == "create":
        return client.chat.completions.create(stream=True, **opts), None, []
    if entry == "helper":
        manager = chat_helpers(client).stream(**opts)
        return manager.__enter__(), manager, []
    if entry == "raw":
        raw = client.chat.completions.with_raw_response.create(stream=True, **opts)
        return raw.parse(), None, [type(raw).__qualname__, raw.headers.get("content-type")]
    manager = client.chat.completions.with_streaming_response.create(stream=True, **opts)
    response = manager.__enter__()
    return response.parse(), manager, [type(response).__qualname__, response.headers.get("content-type")]


def _scenario(client: Any, entry: str, ending: str) -> list[Any]:
    stream, manager, seen = _open(client, entry)
    error: BaseException | None = None
    try:
        if ending == "break":
            with stream if manager is None else _Nothing():
                for index, item in enumerate(stream):
                    seen.append(_seen(item))
                    if index == 1:
                        break
        else:
            for index, item in enumerate(stream):
                seen.append(_seen(item))
                if ending in ("close", "gc") and index == 1:
                    break
            if ending == "close":
                stream.close()
    except openai.APIError as exc:
        error = exc
        seen.append(("raised", type(exc).__qualname__, str(exc)))
    if ending == "gc":
        del stream, manager
        gc.collect()
    elif manager is not None:
        manager.__exit__(type(error) if error else None, error, None)
    return seen


async def _ascenario(client: Any, entry: str, ending: str) -> list[Any]:
    opts = {**KW, "stream_options": {"include_usage": True}}
    seen: list[Any] = []
    manager: Any = None
    if entry == "create":
        stream = await client.chat.completions.create(stream=True, **opts)
    elif entry == "helper":
        manager = chat_helpers(client).stream(**opts)
        stream = await manager.__aenter__()
    elif entry == "raw":
        raw = await client.chat.completions.with_raw_response.create(stream=True, **opts)
        seen += [type(raw).__qualname__, raw.headers.get("content-type")]
        stream = raw.parse()
    else:
        manager = client.chat.completions.with_streaming_response.create(stream=True, **opts)
        response = await manager.__aenter__()
        seen += [type(response).__qualname__, response.headers.get("content-type")]
        stream = await response.parse()
    error: BaseException | None = None
    try:
        if ending == "break":
            async with stream if manager is None else _Nothing():
                index = 0
                async for item in stream:
                    seen.append(_seen(item))
                    if index == 1:
                        break
                    index += 1
        else:
            index = 0
            async for item in stream:
                seen.append(_seen(item))
                if ending in ("close", "gc") and index == 1:
                    break
                index += 1
            if ending == "close":
                await stream.close()
    except openai.APIError as exc:
        error = exc
        seen.append(("raised", type(exc).__qualname__, str(exc)))
    if ending == "gc":
        del stream, manager
        gc.collect()
        # A collected async generator (the helper's) is closed by a task on the event loop: let it run.
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
    elif manager is not None:
        await manager.__aexit__(type(error) if error else None, error, None)
    return seen


class _Nothing:
    def __enter__(self) -> None: ...
    def __exit__(self, *exc: Any) -> None: ...
    async def __aenter__(self) -> None: ...
    async def __aexit__(self, *exc: Any) -> None: ...


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_stream_contract(otel, is_async, entry, ending):
    error = ending == "error"

    async def run() -> list[Any]:
        client = client_answering(_handler(error), is_async=is_async)
        if is_async:
            return await _ascenario(client, entry, ending)
        return _scenario(client, entry, ending)

    plain = await run()
    instrumentor = instrument(otel)
    try:
        traced = await run()
        gc.collect()
    finally:
        instrumentor.uninstrument()
    assert traced == plain
    assert len([s for s in plain if isinstance(s, tuple) and s[0] != "raised"]) >= 2

    span = otel.only_span()  # exactly one span, and it has ended
    attrs = dict(span.attributes)
    assert span.name == "chat gpt-4o-mini"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "chatcmpl-contract"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024"
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    if ending == "completed":
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert attrs["gen_ai.usage.input_tokens"] == 9
        assert attrs["gen_ai.usage.output_tokens"] == 5
        assert span.status.status_code.name == "UNSET"
        gaps = otel.metric_points("gen_ai.client.operation.time_per_output_chunk")
        assert sum(p.count for p in gaps) == len(WORDS) + 2 - 1  # every chunk after the first
    elif error:
        assert attrs["error.type"] == "APIError"
        assert span.status.status_code.name == "ERROR"
        assert "gen_ai.usage.input_tokens" not in attrs
    else:  # left early: what was seen, no usage, no error
        assert "gen_ai.response.finish_reasons" not in attrs
        assert "gen_ai.usage.input_tokens" not in attrs
        assert "error.type" not in attrs
        assert span.status.status_code.name == "UNSET"
    durations = otel.metric_points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == 1


def _long_handler(words: int) -> Any:
    base = {"id": "chatcmpl-long", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024"}
    events: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]} for i in range(words)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": words, "total_tokens": 0}})
    body = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"

    def handle(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body, request=request)

    return handle


@pytest.mark.parametrize("stop_after", [None, 100], ids=["completed", "break"])
def test_long_stream_is_read_in_order_and_whole(otel, stop_after):
    """A long stream, completed or left in the middle: the record holds every chunk seen, in order, once."""
    words = 202
    instrumentor = instrument(otel, capture=True)
    try:
        client = client_answering(_long_handler(words))
        seen = []
        with client.chat.completions.create(stream=True, **KW) as stream:
            for chunk in stream:
                seen.append(chunk)
                if len(seen) == stop_after:
                    break
    finally:
        instrumentor.uninstrument()
    attrs = dict(otel.only_span().attributes)
    text = "".join(c.choices[0].delta.content or "" for c in seen if c.choices)
    (message,) = json.loads(attrs["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "text", "content": text}]
    assert text.startswith("w0 w1 w2 ") and len(seen) == (stop_after or words + 2)
    gaps = otel.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert sum(p.count for p in gaps) == len(seen) - 1
    if stop_after is None:
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert attrs["gen_ai.usage.output_tokens"] == words
    else:
        assert "gen_ai.response.finish_reasons" not in attrs


@pytest.mark.parametrize("chunks_read", [None, 1, 0], ids=["loop-over-the-call", "iterator-dropped", "never-started"])
def test_a_loop_holding_only_the_iterator_keeps_the_call_open(otel, chunks_read):
    """``for chunk in client...create(stream=True)`` holds only what ``iter()`` returned, not the stream object:
    the call stays open while that iterator is read, and ends once, with what was seen, when it is dropped."""
    instrumentor = instrument(otel)
    try:
        client = client_answering(_handler(error=False))
        if chunks_read is None:
            seen = list(client.chat.completions.create(stream=True, **KW))
            assert len(seen) == len(WORDS) + 2
        else:
            chunks = iter(client.chat.completions.create(stream=True, **KW))  # the stream object is gone now
            for _ in range(chunks_read):
                next(chunks)
            assert otel.finished() == []
            del chunks
            gc.collect()
    finally:
        instrumentor.uninstrument()
    attrs = dict(otel.only_span().attributes)
    if chunks_read is None:
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert attrs["gen_ai.usage.output_tokens"] == 5
    else:
        assert "gen_ai.response.finish_reasons" not in attrs
        assert ("gen_ai.response.id" in attrs) == (chunks_read > 0)


SURFACE = ("close", "aclose", "__enter__", "__exit__", "__aenter__", "__aexit__", "__next__", "__anext__")


async def _opened(client: Any, entry: str, is_async: bool) -> Any:
    """The stream the user holds after opening it through ``entry`` (and its manager, left open)."""
    if not is_async:
        return _open(client, entry)[0]
    opts = {**KW, "stream_options": {"include_usage": True}}
    if entry == "create":
        return await client.chat.completions.create(stream=True, **opts)
    if entry == "helper":
        return await chat_helpers(client).stream(**opts).__aenter__()
    if entry == "raw":
        return (await client.chat.completions.with_raw_response.create(stream=True, **opts)).parse()
    response = await client.chat.completions.with_streaming_response.create(stream=True, **opts).__aenter__()
    return await response.parse()


async def _surface(stream: Any, is_async: bool) -> dict[str, Any]:
    """Which methods the stream answers, and what ``aclose()`` (or ``close()``) does when called."""
    seen: dict[str, Any] = {name: hasattr(stream, name) for name in SURFACE}
    try:
        closing = stream.aclose() if is_async else stream.close()
        if is_async:
            await closing
        seen["closed"] = "ok"
    except AttributeError as error:
        seen["closed"] = ("AttributeError", str(error))
    return seen


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_proxy_exposes_exactly_the_streams_surface(otel, is_async, entry):
    """Issue 26: openai's ``AsyncChatCompletionStream`` (and every ``AsyncStream`` of openai 3.3) has no
    ``aclose``; the proxy answered it, so a call that fails uninstrumented succeeded instrumented."""
    plain = await _surface(
        await _opened(client_answering(_handler(False), is_async=is_async), entry, is_async), is_async
    )
    instrumentor = instrument(otel)
    try:
        stream = await _opened(client_answering(_handler(False), is_async=is_async), entry, is_async)
        traced = await _surface(stream, is_async)
    finally:
        instrumentor.uninstrument()
    assert traced == plain
    del stream
    gc.collect()
    assert len(otel.finished()) == 1  # closed or collected: its call ended either way
