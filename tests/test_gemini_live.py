"""Gemini Live through the real ``google-genai`` client (``client.aio.live.connect()``) against a loopback TLS
websocket stand-in (``tests/live_stand_in.py``): a session span, one priced span per model turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from google import genai
from google.genai import types

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor

from .live_stand_in import LiveServer, serve_live

MODEL = "gemini-live-2.5-flash"
AUDIO_PRICE = (
    round(
        float(
            calc_price(
                Usage(input_tokens=120, output_tokens=40, input_audio_tokens=20, output_audio_tokens=10),
                MODEL,
                provider_id="google",
            ).total_price
        )
        * 1e12
    )
    / 1e12
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve_live(tmp_path) as state:
        yield state


def session(server: LiveServer, turns: int = 2) -> list[Any]:
    async def main() -> list[Any]:
        client = genai.Client(
            api_key="test",
            http_options=types.HttpOptions(base_url=server.base_url, async_client_args={"ssl": server.client_ssl}),
        )
        seen = []
        async with client.aio.live.connect(model=MODEL, config={"response_modalities": ["TEXT"]}) as live:
            for _ in range(turns):
                await live.send_client_content(turns={"role": "user", "parts": [{"text": "hi"}]}, turn_complete=True)
                async for message in live.receive():
                    seen.append(message)
                    if message.tool_call:
                        call = message.tool_call.function_calls[0]
                        await live.send_tool_response(
                            function_responses=[{"id": call.id, "name": call.name, "response": {"temp": 21}}]
                        )
        return seen

    return asyncio.run(main())


def test_two_turns_on_one_live_session_each_give_a_span_priced_with_the_audio_rates(
    server: LiveServer, otel: Any
) -> None:
    plain = session(server)
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        seen = session(server)
    finally:
        instrumentor.uninstrument()
    assert [(type(m), m.model_dump()) for m in seen] == [(type(m), m.model_dump()) for m in plain]

    (live,) = [s for s in otel.finished() if s.attributes.get("agentmetrics.operation.name") == "realtime"]
    assert live.name == f"realtime {MODEL}"
    turns = [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "generate_content"]
    assert len(turns) == 2
    for span in turns:
        attrs = span.attributes
        assert span.parent.span_id == live.context.span_id
        assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (120, 40)
        assert (attrs["gen_ai.usage.input_audio_tokens"], attrs["gen_ai.usage.output_audio_tokens"]) == (20, 10)
        assert attrs["gen_ai.usage.cost"] == AUDIO_PRICE
        assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert float(
        calc_price(Usage(input_tokens=120, output_tokens=40), MODEL, provider_id="google").total_price
    ) < AUDIO_PRICE
    assert live.attributes["agentmetrics.realtime.responses"] == 2


def test_a_live_tool_call_answered_is_an_execute_tool_span(server: LiveServer, otel: Any) -> None:
    server.tool_call = "get_weather"
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        session(server, turns=1)
    finally:
        instrumentor.uninstrument()
    (tool,) = [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    asked, answer = [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "generate_content"]
    assert (tool.name, tool.attributes["gen_ai.tool.call.id"]) == ("execute_tool get_weather", "fc_1")
    assert asked.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert asked.end_time <= tool.start_time <= tool.end_time <= answer.end_time
