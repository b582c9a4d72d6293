"""``uninstrument()`` then ``instrument()`` with the same providers loses no metric point (issue 26).

The SDK hands back the first ``agentmetrics.calls.active`` instrument when a second setup creates it again, with
the first setup's callback only; the second setup's ended calls then waited for a full batch (and were lost with
it). Every call's span and metric points must agree, however often the instrumentation is toggled while other
threads call the model.
"""

from __future__ import annotations

import threading
from typing import Any

import openai

import otel_agentmetrics

from .conftest import Telemetry
from .llm_stand_in import serve_chat

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _instrument(otel: Telemetry) -> None:
    otel_agentmetrics.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, store=False, prometheus=False
    )


def _histogram_totals(otel: Telemetry, name: str, **attributes: Any) -> tuple[int, float]:
    points = [
        point
        for point in otel.metric_points(name)
        if all(point.attributes.get(key) == value for key, value in attributes.items())
    ]
    return sum(point.count for point in points), sum(point.sum for point in points)


def _span_input_tokens(otel: Telemetry) -> int:
    return sum(int(span.attributes.get("gen_ai.usage.input_tokens", 0)) for span in otel.finished())


def test_second_session_points_are_collected(otel: Telemetry) -> None:
    with serve_chat() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
        try:
            for _session in range(2):
                _instrument(otel)
                for _ in range(3):
                    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
                count, _ = _histogram_totals(otel, "gen_ai.client.operation.duration")
                assert count == len(otel.finished())  # every ended call, at once, in each session
                otel_agentmetrics.uninstrument()
        finally:
            otel_agentmetrics.uninstrument()
    assert len(otel.finished()) == 6
    assert _histogram_totals(otel, "gen_ai.client.operation.duration")[0] == 6


def test_toggling_under_calling_threads_keeps_every_point(otel: Telemetry) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    with serve_chat() as base_url:

        def caller() -> None:
            client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
            try:
                while not stop.is_set():
                    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(200):
                _instrument(otel)
                otel_agentmetrics.uninstrument()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            otel_agentmetrics.uninstrument()
    assert errors == []
    spans = otel.finished()
    assert spans, "no call was instrumented"
    count, _ = _histogram_totals(otel, "gen_ai.client.operation.duration")
    _, input_tokens = _histogram_totals(otel, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"})
    assert count == len(spans)
    assert input_tokens == _span_input_tokens(otel)
    in_flight = otel.metric_points("agentmetrics.calls.active")
    assert sum(point.value for point in in_flight) == 0
