"""Chat Completions streams are read in batches (the proxy only keeps the chunks; ids, usage and finish reasons
are read from the ends of each batch). Through the real client, on streams longer than a batch: the record must
be exactly what reading every chunk in order gives (the last usage and the last finish reason of each choice win),
whether the stream is read to its end or left midway."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_agentmetrics._stream import PENDING_CHUNKS

from .openai_kit import client_answering, httpx, instrumented  # noqa: F401 - instrumented is a fixture

LONG = 2 * PENDING_CHUNKS + 44  # three batches, the last one partial


def _chunk(index: int, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-batches" if index else "",  # Azure's first chunk: no id or model yet
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini" if index else "",
        "choices": choices,
        "usage": usage,
    }


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _answer(chunks: list[dict[str, Any]]) -> Any:
    body = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers=[("content-type", "text/event-stream")], content=body.encode())

    return handler


def _two_choices() -> list[dict[str, Any]]:
    """Two choices: choice 1 stops early (in the first batch) with "length", then says nothing; choice 0 runs to
    the last content chunk, where it stops with "stop"; choice 0 also had a finish reason of "length" once in the
    middle (a later value must win); usage comes once mid-stream and again, final, in the last chunk."""
    chunks = []
    for i in range(LONG - 1):
        choices = [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]
        if i < 10:
            choices.append({"index": 1, "delta": {"content": "b"}, "finish_reason": "length" if i == 9 else None})
        if i == PENDING_CHUNKS + 3:
            choices[0]["finish_reason"] = "length"
        if i == LONG - 2:
            choices[0]["finish_reason"] = "stop"
        chunks.append(_chunk(i, choices, _usage(11, 5) if i == PENDING_CHUNKS + 1 else None))
    chunks.append(_chunk(LONG - 1, [], _usage(11, 300)))
    return chunks


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_stream_longer_than_a_batch_gives_the_record_of_every_chunk_read_in_order(
    instrumented: Any,  # noqa: F811
    is_async: bool,
) -> None:
    client = client_answering(_answer(_two_choices()), is_async=is_async)
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": 2, "stream": True}
    if is_async:
        received = [chunk async for chunk in await client.chat.completions.create(**request)]
    else:
        received = list(client.chat.completions.create(**request))
    assert len(received) == LONG  # every chunk reaches the user
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.response.id"] == "chatcmpl-batches"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (11, 300)
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == LONG - 1


def test_a_stream_left_after_a_finish_reason_keeps_it(instrumented: Any) -> None:  # noqa: F811
    """The finish reason sits at the end of the first batch; the user leaves in the second, before usage."""
    chunks = [
        _chunk(
            i, [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop" if i == PENDING_CHUNKS - 1 else None}]
        )
        for i in range(PENDING_CHUNKS)
    ] + [_chunk(PENDING_CHUNKS + i, [{"index": 0, "delta": {}, "finish_reason": None}]) for i in range(100)]
    chunks.append(_chunk(len(chunks), [], _usage(3, 4)))
    client = client_answering(_answer(chunks))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)
    for index, _chunk_seen in enumerate(stream):
        if index == PENDING_CHUNKS + 50:
            break
    stream.close()
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.usage.input_tokens" not in attrs  # the usage chunk was never received


def test_tool_call_fragments_spread_over_batches_are_assembled(instrumented: Any) -> None:  # noqa: F811
    """A request that offers tools: every chunk is read for tool-call fragments, across batch boundaries."""
    chunks = []
    for i in range(LONG - 1):
        fragment: dict[str, Any] = {"index": i // PENDING_CHUNKS, "function": {"arguments": "x"}}
        if i % PENDING_CHUNKS == PENDING_CHUNKS - 1:  # each call's id comes in the last chunk of its batch
            fragment["id"] = f"call_{i // PENDING_CHUNKS}"
        reason = "tool_calls" if i == LONG - 2 else None
        chunks.append(_chunk(i, [{"index": 0, "delta": {"tool_calls": [fragment]}, "finish_reason": reason}]))
    chunks.append(_chunk(LONG - 1, [], _usage(7, 9)))
    client = client_answering(_answer(chunks))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    for _chunk_seen in client.chat.completions.create(model="gpt-4o-mini", messages=[], tools=tools, stream=True):
        pass
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attrs["agentmetrics.response.tool_call_ids"] == ("call_0", "call_1")  # the third call never got an id
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (7, 9)
