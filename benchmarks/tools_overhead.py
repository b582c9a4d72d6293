"""Overhead of ``@tool``, ``agent()``, ``attributes()`` and ``operation()`` per call, on a real SDK pipeline.

Each scenario calls a trivial function many times: undecorated, then decorated, with a batch span processor
exporting to a dropping exporter and an in-memory metric reader behind the providers (what a real setup pays,
minus the network). Prints the median time per call over several rounds and the overhead over the bare call.

    python benchmarks/tools_overhead.py [--rounds 5] [--calls 20000]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_agentmetrics as agentmetrics
from otel_agentmetrics import _active
from otel_agentmetrics._telemetry import Telemetry


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _plain(x: int) -> int:
    return x + 1


async def _aplain(x: int) -> int:
    return x + 1


def _gen(x: int) -> Any:
    yield x


def _per_call(func: Callable[[int], Any], calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        func(i)
    return (time.perf_counter() - start) / calls


def _per_call_async(func: Callable[[int], Any], calls: int) -> float:
    async def run() -> float:
        start = time.perf_counter()
        for i in range(calls):
            await func(i)
        return (time.perf_counter() - start) / calls

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    options = parser.parse_args()

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=100_000))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    _active.use(Telemetry(tracer_provider, meter_provider))

    def in_attributes(x: int) -> int:
        with agentmetrics.attributes(user="u-1"):
            return _plain(x)

    traced_gen = agentmetrics.tool(_gen)
    tracer = tracer_provider.get_tracer("bench")
    histogram = meter_provider.get_meter("bench").create_histogram("bench.duration")

    def hand_written(x: int) -> int:
        # The floor: what a hand-written span and histogram cost on the same pipeline.
        start = time.perf_counter()
        with tracer.start_as_current_span("execute_tool _plain", attributes={"gen_ai.tool.name": "_plain"}):
            result = _plain(x)
        histogram.record(time.perf_counter() - start, {"gen_ai.tool.name": "_plain"})
        return result

    scenarios: dict[str, tuple[Callable[[int], Any], Callable[[int], Any], bool]] = {
        "hand-written span+histogram": (_plain, hand_written, False),
        "tool (sync)": (_plain, agentmetrics.tool(_plain), False),
        "tool (async)": (_aplain, agentmetrics.tool(_aplain), True),
        "tool (generator, 1 item)": (lambda x: list(_gen(x)), lambda x: list(traced_gen(x)), False),
        "agent (decorator)": (_plain, agentmetrics.agent("bench")(_plain), False),
        "operation (decorator)": (_plain, agentmetrics.operation("bench")(_plain), False),
        "attributes (with block)": (_plain, in_attributes, False),
    }
    print(f"{'scenario':28} {'bare':>10} {'wrapped':>10} {'overhead':>10}")
    for name, (bare, wrapped, is_async) in scenarios.items():
        measure = _per_call_async if is_async else _per_call
        bare_times, wrapped_times = [], []
        for _ in range(options.rounds):
            bare_times.append(measure(bare, options.calls))
            wrapped_times.append(measure(wrapped, options.calls))
        b, w = statistics.median(bare_times), statistics.median(wrapped_times)
        print(f"{name:28} {b * 1e6:8.2f}us {w * 1e6:8.2f}us {(w - b) * 1e6:8.2f}us")
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
