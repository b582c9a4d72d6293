"""Anthropic message streams are read in batches (the proxy only keeps the events; only message_start,
message_delta and content_block_start events are read, the rest passed over by their class). Through the real
client, on streams longer than a batch: the record must be exactly what reading every event in order gives
(several message_start/message_delta events combine as before: the last ids, the last stop reason, each usage
count's last reported value; tool-use ids in stream order), with or without content capture, through
``create(stream=True)``, the ``stream()`` helper, beta messages and the Vertex client, read to the end or left
midway."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic._models import construct_type
from anthropic.types import RawMessageStreamEvent
from anthropic.types.beta import BetaRawMessageStreamEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_agentmetrics._stream import PENDING_CHUNKS
from otel_agentmetrics.instrumentors.llm.anthropic._streams import MessageStream
from otel_agentmetrics.record import CallRecord

from .anthropic_kit import HELLO, MODEL, instrument, sse, wire_client

LONG = 2 * PENDING_CHUNKS + 44  # three batches, the last one partial
TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]


@pytest.fixture
def instrumented(otel: Any) -> Any:
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def capturing(otel: Any) -> Any:
    instrumentor = instrument(otel, capture_content=True)
    yield otel
    instrumentor.uninstrument()


def _start(message_id: str, usage: dict[str, Any]) -> dict[str, Any]:
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return {"type": "message_start", "message": message}


def _tool_block(index: int, kind: str, tool_id: str) -> dict[str, Any]:
    block = {"type": kind, "id": tool_id, "name": f"tool_{index}", "input": {}}
    return {"type": "content_block_start", "index": index, "content_block": block}


def _json_delta(index: int, piece: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}


def _message_delta(stop_reason: str | None, usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}


def _long_stream() -> list[dict[str, Any]]:
    """``LONG`` events: a tool_use block in the first batch, a server_tool_use block whose start is the first event
    of the second, an mcp_tool_use block in the third, each with input streamed over many deltas; a text block
    with no id; a message_delta mid-stream (a stop reason, new input counts) and a final one at the end (the last
    output count, no stop reason: the earlier one stays; no input count: the mid-stream one stays)."""
    events: list[dict[str, Any]] = [
        _start("msg_batches", {"input_tokens": 11, "cache_creation_input_tokens": 3, "output_tokens": 1}),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Using tools."}},
        {"type": "content_block_stop", "index": 0},
        _tool_block(1, "tool_use", "toolu_1"),
    ]
    starts = {PENDING_CHUNKS: _tool_block(2, "server_tool_use", "srvtoolu_2")}
    starts[2 * PENDING_CHUNKS + 10] = _tool_block(3, "mcp_tool_use", "mcptoolu_3")
    middle = PENDING_CHUNKS + 60
    index = 1
    while len(events) < LONG - 3:
        at = len(events)
        if at + 1 in starts:
            events.append({"type": "content_block_stop", "index": index})
        elif at in starts:
            events.append(starts[at])
            index += 1
        elif at == middle:
            events.append(_message_delta("tool_use", {"input_tokens": 20, "cache_read_input_tokens": 4}))
        else:
            fresh = events[-1]["type"] == "content_block_start"
            events.append(_json_delta(index, '{"k": "' if fresh else "x"))  # valid partial JSON at every step
    events.append({"type": "content_block_stop", "index": index})
    events.append(_message_delta(None, {"output_tokens": 300}))
    events.append({"type": "message_stop"})
    return events


def _kinds_at_batch_starts(events: list[dict[str, Any]]) -> list[str]:
    return [events[i]["type"] for i in range(0, len(events), PENDING_CHUNKS)]


def test_the_long_stream_spreads_over_three_batches() -> None:
    events = _long_stream()
    assert len(events) == LONG
    assert _kinds_at_batch_starts(events) == ["message_start", "content_block_start", "content_block_delta"]
    starts = [event["content_block"] for event in events if event["type"] == "content_block_start"]
    assert [block.get("id") for block in starts] == [None, "toolu_1", "srvtoolu_2", "mcptoolu_3"]


def _assert_record(attributes: Any) -> None:
    assert attributes["gen_ai.response.id"] == "msg_batches"
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_use",)  # the final message_delta has none
    # Input: message_delta's 20 and 4 replace message_start's; cache creation (3) is message_start's only.
    assert attributes["gen_ai.usage.input_tokens"] == 20 + 4 + 3
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 3
    assert attributes["gen_ai.usage.output_tokens"] == 300
    assert attributes["agentmetrics.response.tool_call_ids"] == ("toolu_1", "srvtoolu_2", "mcptoolu_3")


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_stream_longer_than_a_batch_gives_the_record_of_every_event_read_in_order(
    instrumented: Any, is_async: bool
) -> None:
    client = wire_client(sse(*_long_stream()), is_async=is_async, sse=True)
    request = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "tools": TOOLS, "stream": True}
    if is_async:
        received = [event async for event in await client.messages.create(**request)]
    else:
        received = list(client.messages.create(**request))
    assert len(received) == LONG  # every event reaches the user
    _assert_record(instrumented.only_span().attributes)
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == LONG - 1


def test_a_stream_with_no_tools_offered_still_records_its_tool_ids(instrumented: Any) -> None:
    """The request offers no tools (an MCP server could, or a replayed conversation): ids are still read."""
    client = wire_client(sse(*_long_stream()), sse=True)
    for _event in client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True):
        pass
    _assert_record(instrumented.only_span().attributes)


def test_captured_content_is_assembled_across_batches(capturing: Any) -> None:
    client = wire_client(sse(*_long_stream()), sse=True)
    for _event in client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, tools=TOOLS, stream=True):
        pass
    attributes = capturing.only_span().attributes
    _assert_record(attributes)
    (message,) = json.loads(attributes["gen_ai.output.messages"])
    assert message["finish_reason"] == "tool_use"
    parts = message["parts"]
    assert [p["type"] for p in parts] == ["text", "tool_call", "tool_call", "tool_call"]
    assert parts[0]["content"] == "Using tools."
    assert [p["id"] for p in parts[1:]] == ["toolu_1", "srvtoolu_2", "mcptoolu_3"]


def test_the_stream_helper_and_its_final_message(instrumented: Any) -> None:
    client = wire_client(sse(*_long_stream()), sse=True)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO, tools=TOOLS) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 300
    assert [block.id for block in final.content if block.type != "text"] == ["toolu_1", "srvtoolu_2", "mcptoolu_3"]
    _assert_record(instrumented.only_span().attributes)


def test_beta_messages_through_the_vertex_client(instrumented: Any) -> None:
    """Beta events are classes of their own; the Vertex client streams the same events."""
    client = wire_client(
        sse(*_long_stream()),
        sse=True,
        factory=lambda **kw: anthropic.AnthropicVertex(access_token="token", region="us-east5", project_id="p", **kw),
    )
    stream = client.beta.messages.create(model=MODEL, max_tokens=100, messages=HELLO, tools=TOOLS, stream=True)
    assert type(next(iter(stream))).__name__ == "BetaRawMessageStartEvent"
    for _event in stream:
        pass
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    _assert_record(attributes)


def test_a_stream_left_midway_keeps_what_its_received_events_said(instrumented: Any) -> None:
    """The user leaves in the second batch, after the server tool's start and before any message_delta."""
    client = wire_client(sse(*_long_stream()), sse=True)
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, tools=TOOLS, stream=True)
    for index, _event in enumerate(stream):
        if index == PENDING_CHUNKS + 20:
            break
    stream.close()
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.response.id"] == "msg_batches"
    assert attributes["gen_ai.usage.input_tokens"] == 11 + 3  # message_start's counts: no message_delta came
    assert "gen_ai.usage.output_tokens" not in attributes
    assert "gen_ai.response.finish_reasons" not in attributes
    assert attributes["agentmetrics.response.tool_call_ids"] == ("toolu_1", "srvtoolu_2")


def test_a_second_message_start_in_a_later_batch_wins_as_before(instrumented: Any) -> None:
    """Not something the API sends, but the record of any stream stays the one reading every event gives: the
    last message_start's id and model, its input counts over the first one's."""
    events = _long_stream()
    events[PENDING_CHUNKS + 5] = _start("msg_second", {"input_tokens": 50, "output_tokens": 1})
    client = wire_client(sse(*events), sse=True)
    for _event in client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, tools=TOOLS, stream=True):
        pass
    attributes = instrumented.only_span().attributes
    assert attributes["gen_ai.response.id"] == "msg_second"
    assert attributes["gen_ai.usage.input_tokens"] == 20 + 4 + 3  # the mid-stream message_delta comes after it


# -- every event read (content capture) or only the ones whose class may carry what the record needs --------------

_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, strategy, strategy, _junk)


_count = _or_junk(st.integers(0, 50) | st.none())
_usage = _or_junk(
    st.fixed_dictionaries(
        {},
        optional={
            "input_tokens": _count,
            "output_tokens": _count,
            "cache_read_input_tokens": _count,
            "cache_creation_input_tokens": _count,
            "output_tokens_details": _or_junk(st.fixed_dictionaries({"thinking_tokens": _count})),
        },
    )
)
_kinds = ["message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta"]
_tool_start = st.fixed_dictionaries(
    {
        "type": st.just("content_block_start"),
        "index": st.integers(0, 2),
        "content_block": st.fixed_dictionaries(
            {"type": st.sampled_from(["tool_use", "server_tool_use", "mcp_tool_use"]), "id": st.text(max_size=3)}
        ),
    }
)
_message_delta_event = st.fixed_dictionaries(
    {
        "type": st.just("message_delta"),
        "delta": st.fixed_dictionaries({"stop_reason": st.sampled_from(["end_turn", "tool_use", ""]) | st.none()}),
        "usage": _usage,
    }
)
_event = st.one_of(
    _tool_start,
    _message_delta_event,
    st.fixed_dictionaries(
        {"type": st.sampled_from([*_kinds, "content_block_stop", "ping", "unknown"]) | _junk},
        optional={
            "message": _or_junk(st.fixed_dictionaries({}, optional={"id": _junk, "model": _junk, "usage": _usage})),
            "usage": _usage,
            "delta": _or_junk(st.fixed_dictionaries({}, optional={"stop_reason": _junk, "type": _junk})),
            "index": _or_junk(st.integers(0, 2)),
            "content_block": _or_junk(
                st.fixed_dictionaries(
                    {"type": _or_junk(st.sampled_from(["text", "tool_use", "server_tool_use", "mcp_tool_use"]))},
                    optional={"id": _or_junk(st.text(max_size=3))},
                )
            ),
        },
    ),
    _junk,
)
_FIELDS = (
    "response_id",
    "response_model",
    "finish_reasons",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_output_tokens",
    "tool_call_ids",
)


def _read(events: list[Any], capture: bool, batch: int) -> dict[str, Any]:
    stream = MessageStream(capture)
    for start in range(0, len(events), batch):
        stream.pending.extend(events[start : start + batch])
        stream.take()
        stream.pending.clear()
    record = CallRecord(operation="chat", provider="anthropic")
    stream.finish(record)
    return {field: getattr(record, field) for field in _FIELDS}


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.lists(_event, max_size=10), beta=st.booleans(), batch=st.integers(1, 4))
def test_passing_over_events_by_class_gives_the_record_of_reading_every_event(
    data: list[Any], beta: bool, batch: int
) -> None:
    """Events the client itself builds from any JSON (well-formed, of unknown types, or junk): the fields read
    without content capture (deltas and stops passed over by their class) are those reading every event gives."""
    union = BetaRawMessageStreamEvent if beta else RawMessageStreamEvent
    events = [construct_type(type_=union, value=json.loads(json.dumps(value))) for value in data]
    assert _read(events, False, batch) == _read(events, True, batch)
