"""A2A in one process: the real a2a-sdk client talking to a real A2A server app through httpx's ASGI transport.

What two processes cannot show cheaply: ``uninstrument()`` gives back every method, the executor class and the
SDK's own tracer; a stream closed early ends its span; the caller's call context is left as it was; the legacy
request handler; the HTTP+JSON binding. The trace across processes is ``tests/test_a2a_two_process.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

pytest.importorskip("a2a.server.routes")

import httpx  # noqa: E402
import opentelemetry.trace  # noqa: E402
from a2a.client import ClientCallContext, ClientConfig, create_client  # noqa: E402
from a2a.client.base_client import BaseClient  # noqa: E402
from a2a.helpers.proto_helpers import new_task  # noqa: E402
from a2a.server.agent_execution import AgentExecutor, RequestContext  # noqa: E402
from a2a.server.events import EventQueue  # noqa: E402
from a2a.server.request_handlers import DefaultRequestHandler, LegacyRequestHandler  # noqa: E402
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes  # noqa: E402
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater  # noqa: E402
from a2a.types.a2a_pb2 import (  # noqa: E402
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
from a2a.utils import telemetry as sdk_telemetry  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from wrapt import FunctionWrapper  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.instrumentors.protocols.a2a import A2AInstrumentor  # noqa: E402

from .scope_kit import children, scoped_telemetry  # noqa: E402

URL = "http://shouter.test/"
CARD = AgentCard(
    name="shouter",
    description="Repeats what it is told, louder.",
    version="1.0.0",
    default_input_modes=["text/plain"],
    default_output_modes=["text/plain"],
    capabilities=AgentCapabilities(streaming=True),
    supported_interfaces=[AgentInterface(protocol_binding="JSONRPC", url=URL, protocol_version="1.0")],
    skills=[AgentSkill(id="shout", name="shout", description="Shouts.", tags=["test"])],
)
seen_headers: list[dict[str, str]] = []


class Shouter(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        seen_headers.append(dict(context.call_context.state.get("headers", {})))
        assert context.task_id is not None and context.context_id is not None
        await event_queue.enqueue_event(
            new_task(context.task_id, context.context_id, TaskState.TASK_STATE_SUBMITTED, history=[context.message])
        )
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        await updater.add_artifact([Part(text=context.get_user_input().upper())], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


REST_CARD = AgentCard()
REST_CARD.CopyFrom(CARD)
REST_CARD.supported_interfaces[0].protocol_binding = "HTTP+JSON"


def app(handler_type: type = DefaultRequestHandler, rest: bool = False) -> Starlette:
    card = REST_CARD if rest else CARD
    handler = handler_type(agent_executor=Shouter(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = create_rest_routes(handler) if rest else create_jsonrpc_routes(handler, "/")
    return Starlette(routes=[*create_agent_card_routes(card), *routes])


def message(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(role=Role.ROLE_USER, message_id="m1", parts=[Part(text=text)]))


async def exchange(server: Starlette, streaming: bool, stop_after: int | None = None, **call: Any) -> list[Any]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server))
    config = ClientConfig(streaming=streaming, httpx_client=http, supported_protocol_bindings=["JSONRPC", "HTTP+JSON"])
    async with await create_client(URL, client_config=config) as client:
        events = []
        stream = client.send_message(message("hello"), **call)
        async for event in stream:
            events.append(event.WhichOneof("payload"))
            if stop_after is not None and len(events) == stop_after:
                break
        await stream.aclose()
    await http.aclose()
    return events


@pytest.fixture
def instrumented(otel):
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        instrumentor = A2AInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        yield otel
        instrumentor.uninstrument()


def spans_by_name(otel: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for span in otel.finished():
        out.setdefault(span.name, []).append(span)
    return out


@pytest.mark.parametrize("handler_type", [DefaultRequestHandler, LegacyRequestHandler])
def test_one_client_span_the_server_span_and_the_run_under_it(instrumented, handler_type):
    events = asyncio.run(exchange(app(handler_type), streaming=True))
    assert events == ["task", "status_update", "artifact_update", "status_update"]
    spans = spans_by_name(instrumented)
    assert sorted(spans) == ["SendStreamingMessage shouter", "invoke_agent shouter"]
    client, run = sorted(spans["invoke_agent shouter"], key=lambda s: -s.kind.value)
    (server,) = spans["SendStreamingMessage shouter"]
    assert (client.kind, server.kind, run.kind) == (SpanKind.CLIENT, SpanKind.SERVER, SpanKind.INTERNAL)
    assert children(instrumented.finished(), client) == [server]
    assert children(instrumented.finished(), server) == [run]
    assert client.attributes["agentmetrics.a2a.task.state"] == "TASK_STATE_COMPLETED"
    assert run.attributes["agentmetrics.agent.model_calls"] == 0


def test_the_http_json_binding(instrumented):
    seen_headers.clear()
    assert asyncio.run(exchange(app(rest=True), streaming=False)) == ["task"]  # the card offers only HTTP+JSON
    spans = spans_by_name(instrumented)
    assert sorted(spans) == ["SendMessage shouter", "invoke_agent shouter"]
    client = next(s for s in spans["invoke_agent shouter"] if s.kind == SpanKind.CLIENT)
    (server,) = spans["SendMessage shouter"]
    assert server.parent.span_id == client.context.span_id
    assert seen_headers[0]["traceparent"].split("-")[2] == f"{client.context.span_id:016x}"


def test_a_stream_closed_early_ends_its_span(instrumented):
    assert asyncio.run(exchange(app(), streaming=True, stop_after=1)) == ["task"]
    (client,) = [s for s in instrumented.finished() if s.kind == SpanKind.CLIENT]
    assert client.name == "invoke_agent shouter"
    assert client.status.status_code == StatusCode.UNSET and "error.type" not in client.attributes
    assert client.attributes["agentmetrics.a2a.task.state"] == "TASK_STATE_SUBMITTED"


def test_the_callers_context_is_left_as_it_was(instrumented):
    seen_headers.clear()
    context = ClientCallContext(service_parameters={"x-tenant": "acme"}, timeout=30)
    asyncio.run(exchange(app(), streaming=False, context=context))
    assert context.service_parameters == {"x-tenant": "acme"} and context.timeout == 30
    (headers,) = seen_headers
    (client,) = [s for s in instrumented.finished() if s.kind == SpanKind.CLIENT]
    assert headers["x-tenant"] == "acme"
    sent = client.context
    assert headers["traceparent"] == f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{int(sent.trace_flags):02x}"


def test_uninstrument_restores_everything(otel):
    clean = {name: BaseClient.__dict__[name] for name in ("send_message", "get_task", "subscribe")}
    handler_methods = {
        name: DefaultRequestHandler.__dict__[name] for name in ("on_message_send", "on_message_send_stream")
    }
    execute = Shouter.__dict__["execute"]
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        instrumentor = A2AInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert type(sdk_telemetry.trace).__name__ == "_StandDown"
        sdk_span = sdk_telemetry.trace.get_tracer("a2a-python-sdk").start_span("theirs")
        assert not sdk_span.is_recording()
        assert asyncio.run(exchange(app(), streaming=False)) == ["task"]
        assert isinstance(BaseClient.__dict__["send_message"], FunctionWrapper)
        assert isinstance(Shouter.__dict__["execute"], FunctionWrapper)  # wrapped when a handler first used it
        instrumentor.uninstrument()
        recorded = len(otel.finished())
        assert asyncio.run(exchange(app(), streaming=False)) == ["task"]
    assert recorded == 3 and len(otel.finished()) == 3  # nothing of ours after uninstrument()
    assert {name: BaseClient.__dict__[name] for name in clean} == clean
    assert {name: DefaultRequestHandler.__dict__[name] for name in handler_methods} == handler_methods
    assert Shouter.__dict__["execute"] is execute
    assert sdk_telemetry.trace is opentelemetry.trace


def test_an_agent_run_around_the_call_is_the_clients_parent(instrumented):
    with agentmetrics.agent("caller"):
        asyncio.run(exchange(app(), streaming=False))
    spans = spans_by_name(instrumented)
    (caller,) = spans["invoke_agent caller"]
    client = next(s for s in spans["invoke_agent shouter"] if s.kind == SpanKind.CLIENT)
    assert client.parent.span_id == caller.context.span_id
    assert client.attributes["gen_ai.agent.name"] == "shouter"  # the remote agent, not the enclosing run's
