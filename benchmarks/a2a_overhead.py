"""Overhead of the A2A instrumentation per request, on each side, against uninstrumented baselines in the same run.

A real a2a-sdk client sends ``SendMessage`` to a real A2A server app (``DefaultRequestHandler``, JSON-RPC routes,
an executor that answers with a completed task and calls no model) through httpx's ASGI transport: the whole
client, dispatcher, handler, task and queue path runs, but no socket's I/O hides the cost. Client and server run in
this one process, so a request's CPU time is both sides' work (CPU time rather than wall time: a shared machine's
other load would swamp the difference).

The SDK traces itself when OpenTelemetry is set up (dozens of spans per request), and ours replace those, so two
baselines, interleaved round by round with the instrumented scenarios:

- ``sdk spans``: nothing of ours, the SDK's own spans on (what a user with OpenTelemetry set up has), against
  ``ours, both``: both sides instrumented, the SDK's spans stood down.
- ``sdk off``: nothing of ours and the SDK's tracing off (``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=false``), against
  ``ours, client`` and ``ours, server``: one side instrumented, the SDK's tracing still off, so each is our own cost.

Spans go to a batch processor with a dropping exporter, metrics to an in-memory reader.

    python benchmarks/a2a_overhead.py [--rounds 5] [--calls 100]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import httpx
from a2a.client import ClientConfig, create_client
from a2a.helpers.proto_helpers import new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from a2a.utils import telemetry as sdk_telemetry
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from starlette.applications import Starlette

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.protocols.a2a import A2AInstrumentor

URL = "http://bench.test/"


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Off:
    """The SDK's ``trace`` with its tracing off: every tracer a no-op one."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return trace.NoOpTracer()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


class Echo(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id or "", context.context_id or ""
        await event_queue.enqueue_event(new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED))
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.add_artifact([Part(text=context.get_user_input())], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


CARD = AgentCard(
    name="echo",
    description="Echoes.",
    version="1.0.0",
    default_input_modes=["text/plain"],
    default_output_modes=["text/plain"],
    capabilities=AgentCapabilities(streaming=True),
    supported_interfaces=[AgentInterface(protocol_binding="JSONRPC", url=URL, protocol_version="1.0")],
    skills=[AgentSkill(id="echo", name="echo", description="Echoes.", tags=["bench"])],
)
handler = DefaultRequestHandler(agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=CARD)
app = Starlette(routes=[*create_agent_card_routes(CARD), *create_jsonrpc_routes(handler, "/")])


class Sides:
    """Switches our patches and the SDK's tracer per scenario, without re-instrumenting."""

    def __init__(self, instrumentor: A2AInstrumentor) -> None:
        self.instrumentor = instrumentor
        applied = instrumentor._applied
        self.patches = [(owner, name, original, getattr(owner, name)) for owner, name, original in applied]
        self.api = sdk_telemetry.trace._api  # the stood-down SDK's own trace API
        self.stood_down = sdk_telemetry.trace

    def use(self, client: bool, server: bool, sdk: str) -> None:
        for owner, attribute, original, patched in self.patches:
            on = client if owner.__name__ == "BaseClient" else server
            setattr(owner, attribute, patched if on else original)
        self.instrumentor._executors.on = server
        sdk_telemetry.trace = {"spans": self.api, "off": _Off(self.api), "ours": self.stood_down}[sdk]


def message(number: int) -> SendMessageRequest:
    return SendMessageRequest(
        message=Message(role=Role.ROLE_USER, message_id=f"m{number}", parts=[Part(text=f"hello {number}")])
    )


async def per_call(calls: int) -> float:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    client = await create_client(URL, client_config=ClientConfig(streaming=False, httpx_client=http))
    async for _ in client.send_message(message(-1)):  # warm: the card, the connection
        pass
    start = time.process_time()
    for i in range(calls):
        async for _ in client.send_message(message(i)):
            pass
    elapsed = time.process_time() - start
    await client.close()
    await http.aclose()
    return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100)
    options = parser.parse_args()
    logging.disable(logging.WARNING)  # the SDK warns about the card once per handler; no log I/O in the timing

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = A2AInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(tracer_provider, meter_provider))
    asyncio.run(per_call(3))  # a request through the handler wraps the executor class
    sides = Sides(instrumentor)

    scenarios = {
        "sdk spans": (False, False, "spans"),
        "ours, both": (True, True, "ours"),
        "sdk off": (False, False, "off"),
        "ours, client": (True, False, "off"),
        "ours, server": (False, True, "off"),
    }
    baseline_of = {"ours, both": "sdk spans", "ours, client": "sdk off", "ours, server": "sdk off"}
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    asyncio.run(per_call(options.calls))  # warm-up, not counted
    for _ in range(options.rounds):
        for name, (client, server, sdk) in scenarios.items():
            sides.use(client, server, sdk)
            times[name].append(asyncio.run(per_call(options.calls)))
    sides.use(True, True, "ours")
    instrumentor.uninstrument()
    tracer_provider.shutdown()

    print(f"a2a-sdk {version('a2a-sdk')}, {options.rounds} rounds of {options.calls} SendMessage, median CPU time")
    print(f"{'scenario':14} {'per call':>10} {'overhead':>10}  against")
    for name, samples in times.items():
        median = statistics.median(samples)
        base = baseline_of.get(name)
        if base is None:
            print(f"{name:14} {median * 1e6:8.1f}us")
        else:
            extra = median - statistics.median(times[base])
            print(f"{name:14} {median * 1e6:8.1f}us {extra * 1e6:+8.1f}us  {base}")


if __name__ == "__main__":
    main()
