"""Overhead of the MCP instrumentation per request, on each side, against an uninstrumented baseline in the same run.

A real ``ClientSession`` calls a real low-level server (FastMCP on mcp 1.x, ``MCPServer`` on 2.x) over the SDK's
in-memory streams, so the whole JSON-RPC path runs but no transport's I/O hides the cost. Four scenarios,
interleaved round by round: nothing instrumented, the client side only, the server side only, both. Our spans go
to a batch processor with a dropping exporter, metrics to an in-memory reader; the same SDK provider is the global
one, so on mcp 2.x the uninstrumented baseline includes the SDK's own spans, as a user with OpenTelemetry set up
gets them (ours replace them). Prints the median CPU time per ``tools/call`` (client and server run in this one
process, so it is both sides' work; CPU time rather than wall time because a shared machine's other load would
swamp the difference) and the overhead over the baseline.

    python benchmarks/mcp_overhead.py [--rounds 5] [--calls 300]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import anyio
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.protocols.mcp import MCPInstrumentor

try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
except ImportError:
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]  # mcp 1.x
from mcp import ClientSession
from mcp.shared.memory import create_client_server_memory_streams

SERVER_SIDE = ("OpenTelemetryMiddleware", "Server", "RequestResponder")


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


server = Server("bench")
logging.disable(logging.INFO)  # FastMCP logs every request at INFO, through rich: that would be most of the time


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def lowlevel(app: Any) -> Any:
    return getattr(app, "_lowlevel_server", None) or app._mcp_server


class Sides:
    """Switches our patches on and off per side, without re-instrumenting."""

    def __init__(self, applied: list[tuple[Any, str, Any]]) -> None:
        self.patches = [(owner, name, original, getattr(owner, name)) for owner, name, original in applied]

    def use(self, client: bool, server_side: bool) -> None:
        for owner, attribute, original, patched in self.patches:
            is_server = getattr(owner, "__name__", "") in SERVER_SIDE
            on = server_side if is_server else client
            setattr(owner, attribute, patched if on else original)


async def per_call(calls: int) -> float:
    low = lowlevel(server)
    async with (
        create_client_server_memory_streams() as (client_streams, server_streams),
        anyio.create_task_group() as group,
    ):
        group.start_soon(lambda: low.run(server_streams[0], server_streams[1], low.create_initialization_options()))
        async with ClientSession(client_streams[0], client_streams[1]) as session:
            await session.initialize()
            await session.call_tool("add", {"a": 1, "b": 2})  # warm: the tool list, the schemas
            start = time.process_time()
            for i in range(calls):
                await session.call_tool("add", {"a": i, "b": 2})
            elapsed = time.process_time() - start
        group.cancel_scope.cancel()
    return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    options = parser.parse_args()

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = MCPInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(tracer_provider, meter_provider))
    sides = Sides(instrumentor._applied)

    scenarios = {"uninstrumented": (False, False), "client": (True, False), "server": (False, True)}
    scenarios["both"] = (True, True)
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    anyio.run(per_call, options.calls)  # warm-up, not counted
    for _ in range(options.rounds):
        for name, (client, server_side) in scenarios.items():
            sides.use(client, server_side)
            times[name].append(anyio.run(per_call, options.calls))
    sides.use(True, True)
    instrumentor.uninstrument()
    tracer_provider.shutdown()

    base = statistics.median(times["uninstrumented"])
    print(f"mcp {version('mcp')}, {options.rounds} rounds of {options.calls} tools/call, median CPU time per call")
    print(f"{'scenario':16} {'per call':>10} {'overhead':>10}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:16} {median * 1e6:8.1f}us {(median - base) * 1e6:8.1f}us")


if __name__ == "__main__":
    main()
