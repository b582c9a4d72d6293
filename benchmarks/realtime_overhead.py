"""Overhead per realtime event: the real ``openai`` client's ``RealtimeConnection.recv()`` over an in-memory
websocket that replays a session's frames (so the network is not measured), plain and instrumented, in one run.

A session streams hundreds of deltas per second; each response here is ``response.created``, ``--deltas`` audio
deltas and ``response.done`` with usage (priced with the audio rates). The SDK pipeline is real: a batch span
processor exporting to a dropping exporter and an in-memory metric reader. Prints the median time per event over
several rounds: per delta (one long response) and per response (its span, metric points and audio pricing).

    python benchmarks/realtime_overhead.py [--rounds 7] [--responses 200] [--deltas 5000]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

USAGE = {
    "total_tokens": 160, "input_tokens": 120, "output_tokens": 40,
    "input_token_details": {"text_tokens": 100, "audio_tokens": 20, "cached_tokens": 0},
    "output_token_details": {"text_tokens": 30, "audio_tokens": 10},
}  # fmt: skip


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Replay:
    """Enough of a ``websockets`` sync connection for ``RealtimeConnection``: frames from a list."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.at = 0

    def recv(self, timeout: float | None = None, decode: bool | None = None) -> bytes:
        frame = self.frames[self.at]
        self.at += 1
        return frame

    def send(self, message: Any) -> None:
        pass

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def frames(responses: int, deltas: int) -> list[bytes]:
    out = [json.dumps({"type": "session.created", "event_id": "e0", "session": {"model": "gpt-realtime"}})]
    for r in range(responses):
        response = {"object": "realtime.response", "id": f"resp_{r}", "status": "in_progress", "output": []}
        out.append(json.dumps({"type": "response.created", "event_id": f"c{r}", "response": response}))
        delta = {"type": "response.output_audio.delta", "event_id": "d", "response_id": f"resp_{r}",
                 "item_id": "i", "output_index": 0, "content_index": 0, "delta": "AAAA" * 64}  # fmt: skip
        out.extend([json.dumps(delta)] * deltas)
        done = {**response, "status": "completed", "usage": USAGE}
        out.append(json.dumps({"type": "response.done", "event_id": f"f{r}", "response": done}))
    return [f.encode() for f in out]


def session(data: list[bytes]) -> float:
    """Seconds per event for one session read through the real client."""
    client = openai.OpenAI(api_key="bench", websocket_base_url="ws://127.0.0.1:1/v1")
    manager = client.realtime.connect(model="gpt-realtime")
    manager._connect_ws = lambda query, headers: _Replay(data)  # type: ignore[method-assign]
    connection = manager.enter()
    start = time.perf_counter()
    for _ in range(len(data)):
        connection.recv()
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed / len(data)


def compare(data: list[bytes], rounds: int, instrumentor: Any, telemetry: Telemetry) -> tuple[float, float]:
    """Median seconds per event, plain and instrumented, rounds interleaved so machine load affects both alike."""
    plain, instrumented = [], []
    for _ in range(rounds):
        plain.append(session(data))
        instrumentor.instrument(telemetry=telemetry, settings=resolve())
        instrumented.append(session(data))
        instrumentor.uninstrument()
    return statistics.median(plain), statistics.median(instrumented)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--responses", type=int, default=200)
    parser.add_argument("--deltas", type=int, default=5000)
    args = parser.parse_args()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry = Telemetry(tracer_provider, meter_provider)
    telemetry.pricer.load()
    instrumentor = OpenAIInstrumentor()
    session(frames(2, 10))  # warm-up: imports, pydantic models
    # 1. Deltas: one response streaming many audio deltas (what a session does hundreds of times a second).
    base, ours = compare(frames(1, args.deltas), args.rounds, instrumentor, telemetry)
    print(f"deltas ({args.deltas} in one response, {args.rounds} rounds): plain {base * 1e6:.2f} us/event, "
          f"instrumented {ours * 1e6:.2f} us/event, overhead {(ours - base) * 1e6:.2f} us/event")  # fmt: skip
    # 2. Responses: response.created + response.done with audio usage (its span, metric points, audio pricing).
    base, ours = compare(frames(args.responses, 0), args.rounds, instrumentor, telemetry)
    print(f"responses ({args.responses}, no deltas): plain {base * 2e6:.1f} us/response, "
          f"instrumented {ours * 2e6:.1f} us/response, overhead {(ours - base) * 2e6:.1f} us/response")  # fmt: skip
    tracer_provider.shutdown()
    meter_provider.shutdown()


if __name__ == "__main__":
    main()
