"""The stream contract for Anthropic: instrumented streams behave exactly like uninstrumented ones, and end one span.

Matrix: sync/async x ``create(stream=True)`` / ``messages.stream()`` helper / ``with_raw_response`` /
``with_streaming_response`` x completed / break out of a ``with`` block / ``close()`` / an ``error`` event
mid-stream / garbage-collected unconsumed. Each scenario runs twice against the real client, without and with
instrumentation; what the user sees (every object's type and content, in order, and the exception raised) must be
equal, and the instrumented run must have finished exactly one span holding what was seen. The server speaks the
documented Messages streaming format (https://docs.anthropic.com/en/api/messages-streaming), usage split between
``message_start`` (input side, cached parts included) and ``message_delta`` (final output count).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from typing import Any

import anthropic
import pytest

from .anthropic_kit import HTTPX, MODEL, _client, instrument, sse

ENTRIES = ("create", "helper", "raw", "streaming_response")
ENDINGS = ("completed", "break", "close", "error", "gc")
KW: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Say this is a test"}],
}
WORDS = ["This", " is", " a", " test", "."]
USAGE_START = {"input_tokens": 9, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2, "output_tokens": 1}


def _events(error: bool) -> list[dict[str, Any]]:
    message = {"id": "msg_contract", "type": "message", "role": "assistant", "model": MODEL, "content": []}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "stop_reason": None, "usage": USAGE_START}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}} for w in WORDS]
    if error:
        events.insert(4, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        return events
    return events + [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]


def _client_for(error: bool, is_async: bool) -> Any:
    body = sse(*_events(error)).encode()

    def handle(request: Any) -> Any:
        headers = {"content-type": "text/event-stream"}
        return HTTPX.Response(200, headers=headers, stream=HTTPX.ByteStream(body), request=request)

    return _client(HTTPX.MockTransport(handle), is_async, max_retries=0)


def _seen(item: Any) -> tuple[str, Any]:
    dump = getattr(item, "model_dump", None)
    return type(item).__qualname__, dump() if dump is not None else repr(item)


def _open(client: Any, entry: str) -> tuple[Any, Any, list[Any]]:
    """``(stream, manager to exit or None, what the user saw while opening)``."""
    if entry == "create":
        return client.messages.create(stream=True, **KW), None, []
    if entry == "helper":
        manager = client.messages.stream(**KW)
        stream = manager.__enter__()
        return stream, manager, [type(manager).__qualname__, type(stream).__qualname__]
    if entry == "raw":
        raw = client.messages.with_raw_response.create(stream=True, **KW)
        return raw.parse(), None, [type(raw).__qualname__, raw.headers.get("content-type")]
    manager = client.messages.with_streaming_response.create(stream=True, **KW)
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
    except anthropic.APIError as exc:
        error = exc
        seen.append(("raised", type(exc).__qualname__, str(exc)))
    if ending == "gc":
        del stream, manager
        gc.collect()
    elif manager is not None:
        manager.__exit__(type(error) if error else None, error, None)
    return seen


async def _ascenario(client: Any, entry: str, ending: str) -> list[Any]:
    seen: list[Any] = []
    manager: Any = None
    if entry == "create":
        stream = await client.messages.create(stream=True, **KW)
    elif entry == "helper":
        manager = client.messages.stream(**KW)
        stream = await manager.__aenter__()
        seen += [type(manager).__qualname__, type(stream).__qualname__]
    elif entry == "raw":
        raw = await client.messages.with_raw_response.create(stream=True, **KW)
        seen += [type(raw).__qualname__, raw.headers.get("content-type")]
        stream = raw.parse()
        if inspect.isawaitable(stream):  # anthropic 2.x; older releases' legacy raw response parses at once
            stream = await stream
    else:
        manager = client.messages.with_streaming_response.create(stream=True, **KW)
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
    except anthropic.APIError as exc:
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
        client = _client_for(error, is_async)
        if is_async:
            return await _ascenario(client, entry, ending)
        return _scenario(client, entry, ending)

    # Objects from before the scenario cannot hold its stream: freezing them keeps each gc.collect() to the
    # scenario's own objects (a full collection of a large test process takes seconds on a loaded machine).
    gc.freeze()
    try:
        plain = await run()
        instrumentor = instrument(otel)
        try:
            traced = await run()
            gc.collect()
        finally:
            instrumentor.uninstrument()
    finally:
        gc.unfreeze()
    assert traced == plain
    assert len([s for s in plain if isinstance(s, tuple) and s[0] != "raised"]) >= 2

    span = otel.only_span()  # exactly one span, and it has ended
    attrs = dict(span.attributes)
    assert span.name == f"chat {MODEL}"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "msg_contract"
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    # message_start came in every scenario: the input side is known, cached parts added back (9 + 3 + 2).
    assert attrs["gen_ai.usage.input_tokens"] == 14
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 2
    if ending == "completed":
        assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
        assert attrs["gen_ai.usage.output_tokens"] == 5
        assert span.status.status_code.name == "UNSET"
        gaps = otel.metric_points("gen_ai.client.operation.time_per_output_chunk")
        delivered = [e for e in _events(False) if e["type"] != "ping"]  # the SDK drops pings
        assert sum(p.count for p in gaps) == len(delivered) - 1  # every event after the first
    elif error:
        raised = next(s for s in plain if isinstance(s, tuple) and s[0] == "raised")
        assert attrs["error.type"] == raised[1]
        assert span.status.status_code.name == "ERROR"
        assert "gen_ai.usage.output_tokens" not in attrs
    else:  # left early: what was seen, no output count (message_start's is a placeholder), no error
        assert "gen_ai.response.finish_reasons" not in attrs
        assert "gen_ai.usage.output_tokens" not in attrs
        assert span.status.status_code.name == "UNSET"
