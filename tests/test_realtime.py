"""OpenAI Realtime through the real ``openai`` client (``realtime.connect()``, sync and async) against a loopback
websocket stand-in (``tests/realtime_stand_in.py``): a session span, one priced span per response."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from genai_prices import Usage, calc_price

from otel_agentmetrics import cost
from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .realtime_stand_in import RealtimeServer, serve_realtime

AUDIO_PRICE = float(
    calc_price(
        Usage(input_tokens=120, output_tokens=40, input_audio_tokens=20, output_audio_tokens=10),
        "gpt-realtime",
        provider_id="openai",
    ).total_price
)


@pytest.fixture
def server() -> Iterator[RealtimeServer]:
    with serve_realtime() as state:
        yield state


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    yield otel
    instrumentor.uninstrument()


def two_responses(server: RealtimeServer) -> list[Any]:
    client = openai.OpenAI(api_key="test", websocket_base_url=server.url)
    events = []
    with client.realtime.connect(model="gpt-realtime") as connection:
        for _ in range(2):
            connection.response.create()
            for event in connection:
                events.append(event)
                if event.type == "response.done":
                    break
    return events


def dumps(events: list[Any]) -> list[Any]:
    return [(type(e), {k: v for k, v in e.model_dump().items() if k != "event_id"}) for e in events]


def sessions(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("agentmetrics.operation.name") == "realtime"]


def responses(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "chat"]


def test_the_pricer_prices_audio_tokens_at_the_audio_rates() -> None:
    assert AUDIO_PRICE == 0.00216  # the numbers: $0.00112 when audio is priced as text
    assert cost("gpt-realtime", 120, 40, input_audio_tokens=20, output_audio_tokens=10) == AUDIO_PRICE
    assert cost("gpt-realtime", 120, 40) == 0.00112
    # A model whose table entry has no audio price: unpriced, never priced as text.
    assert cost("gpt-4o-mini-audio-preview", 120, 40, input_audio_tokens=20, provider="openai") is None


def test_two_responses_on_one_session_each_give_a_span_priced_with_the_audio_rates(
    server: RealtimeServer, otel: Any
) -> None:
    plain = two_responses(server)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        events = two_responses(server)
    finally:
        instrumentor.uninstrument()
    assert dumps(events) == dumps(plain)  # the app sees the same events, types included

    (session,) = sessions(otel)
    assert session.name == "realtime gpt-realtime"
    assert session.attributes["agentmetrics.realtime.session.id"] == "sess_1"
    assert session.attributes["agentmetrics.realtime.responses"] == 2
    assert session.attributes["agentmetrics.agent.cost"] == pytest.approx(2 * AUDIO_PRICE, abs=1e-12)
    spans = responses(otel)
    assert [s.name for s in spans] == ["chat gpt-realtime", "chat gpt-realtime"]
    for span, response_id in zip(spans, ("resp_1", "resp_2"), strict=True):
        attrs = span.attributes
        assert span.parent.span_id == session.context.span_id
        assert attrs["gen_ai.response.id"] == response_id
        assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (120, 40)
        assert (attrs["gen_ai.usage.input_audio_tokens"], attrs["gen_ai.usage.output_audio_tokens"]) == (20, 10)
        assert attrs["gen_ai.usage.cost"] == AUDIO_PRICE
        assert attrs["gen_ai.response.finish_reasons"] == ("completed",)
        assert 0 < attrs["gen_ai.response.time_to_first_chunk"] < span.end_time - span.start_time
    ttfc = otel.metric_points("gen_ai.client.operation.time_to_first_chunk")
    assert sum(p.count for p in ttfc) == 2
    gaps = otel.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert sum(p.count for p in gaps) == 2 * 5  # 5 audio deltas and a transcript delta per response
    tokens = {dict(p.attributes)["gen_ai.token.type"]: p.sum for p in otel.metric_points("gen_ai.client.token.usage")}
    assert tokens == {"input": 240, "output": 80}
    (dollars,) = otel.metric_points("gen_ai.usage.cost")
    assert dollars.sum == pytest.approx(2 * AUDIO_PRICE, abs=1e-12)


def test_async_session_with_a_tool_call_answered(server: RealtimeServer, instrumented: Any) -> None:
    server.tool_call = "get_weather"

    async def main() -> list[str]:
        client = openai.AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        seen = []
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.response.create()
            async for event in connection:
                seen.append(event.type)
                if event.type == "response.done":
                    call = event.response.output[0]
                    await connection.conversation.item.create(
                        item={"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}
                    )
                    await connection.response.create()
                    break
            async for event in connection:
                seen.append(event.type)
                if event.type == "response.done":
                    break
        return seen

    seen = asyncio.run(main())
    assert seen.count("response.done") == 2
    (session,) = sessions(instrumented)
    first, second = responses(instrumented)
    (tool,) = [s for s in instrumented.finished() if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert tool.name == "execute_tool get_weather"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_weather_1"
    assert tool.parent.span_id == session.context.span_id
    assert first.attributes["agentmetrics.response.tool_call_ids"] == ("call_weather_1",)
    assert [link.context.span_id for link in tool.links] == [first.context.span_id]
    assert first.end_time <= tool.start_time <= tool.end_time <= second.start_time
    assert session.attributes["agentmetrics.realtime.responses"] == 2


def test_an_error_event_marks_the_session_and_a_session_left_open_ends_when_dropped(
    server: RealtimeServer, instrumented: Any
) -> None:
    server.error_after = 1
    client = openai.OpenAI(api_key="test", websocket_base_url=server.url)
    connection = client.realtime.connect(model="gpt-realtime").enter()
    connection.response.create()
    types = []
    for event in connection:
        types.append(event.type)
        if event.type == "error":
            break
    assert types[-2:] == ["response.done", "error"]
    assert sessions(instrumented) == []  # still open
    connection.close()
    (session,) = sessions(instrumented)
    assert session.attributes["error.type"] == "unknown_parameter"
    assert session.attributes["agentmetrics.realtime.errors"] == 1

    # Entered and never closed: its span ends when the connection is dropped.
    connection = client.realtime.connect(model="gpt-realtime").enter()
    connection.response.create()
    for event in connection:
        if event.type == "response.created":
            break
    connection._connection.close()  # the socket goes; the app never calls close()
    del connection
    gc.collect()
    left_open = sessions(instrumented)[1]
    (unfinished,) = [s for s in responses(instrumented) if s.parent.span_id == left_open.context.span_id]
    assert unfinished.attributes["error.type"] == "session_closed"


def test_events_of_the_wrong_shape_cost_their_fields_only(server: RealtimeServer, instrumented: Any) -> None:
    server.script = [
        {"type": "response.created", "response": {"id": 7, "status": None}},
        {"type": "response.output_text.delta", "delta": None},
        {"type": "response.done", "response": {
            "id": "resp_bad", "status": "completed", "output": "not a list",
            "usage": {"input_tokens": "abc", "output_tokens": 40,
                      "input_token_details": [1, 2], "output_token_details": {"audio_tokens": -3}},
        }},
        {"type": "response.done", "response": None},
        {"type": "error", "error": "not an object"},
    ]  # fmt: skip
    client = openai.OpenAI(api_key="test", websocket_base_url=server.url)
    seen = []
    with client.realtime.connect(model="gpt-realtime") as connection:
        connection.response.create()
        for event in connection:
            seen.append(event.type)
            if event.type == "error":
                break
    assert seen[-5:] == ["response.created", "response.output_text.delta", "response.done", "response.done", "error"]
    first, second = responses(instrumented)
    assert first.attributes["gen_ai.usage.output_tokens"] == 40
    assert "gen_ai.usage.input_tokens" not in first.attributes  # "abc": dropped, and counted as rejected
    assert "gen_ai.usage.output_audio_tokens" not in first.attributes  # -3: dropped
    assert "gen_ai.usage.input_tokens" not in second.attributes
    (session,) = sessions(instrumented)
    assert session.attributes["error.type"] == "error"
