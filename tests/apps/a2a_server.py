"""An A2A server for the two-process tests: an agent that asks a model, served over JSON-RPC by the a2a-sdk.

    python tests/apps/a2a_server.py instrumented|plain

``instrumented`` calls ``instrument()`` (OTLP, configured by the ``OTEL_*`` environment). The agent (``advisor``)
asks the model at ``OPENAI_BASE_URL`` the user's text and answers with a task whose artifact is the model's reply;
the text ``fail`` makes it raise before it does anything. Listens on an ephemeral loopback port, prints ``port N``
and serves until SIGTERM, then exits normally so the final export runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator

mode = sys.argv[1]
if mode == "instrumented":
    import otel_agentmetrics

    otel_agentmetrics.instrument(otlp=True, store=False, service_name="a2a-server")

import openai  # noqa: E402
import uvicorn  # noqa: E402
from a2a.helpers.proto_helpers import new_task  # noqa: E402
from a2a.server.agent_execution import AgentExecutor, RequestContext  # noqa: E402
from a2a.server.events import EventQueue  # noqa: E402
from a2a.server.request_handlers import DefaultRequestHandler  # noqa: E402
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes  # noqa: E402
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater  # noqa: E402
from a2a.types.a2a_pb2 import (  # noqa: E402
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Part,
    TaskState,
)
from starlette.applications import Starlette  # noqa: E402


class Advisor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        question = context.get_user_input()
        if question == "fail":
            raise RuntimeError("the advisor broke")
        assert context.task_id is not None and context.context_id is not None
        task = context.current_task or new_task(
            context.task_id, context.context_id, TaskState.TASK_STATE_SUBMITTED, history=[context.message]
        )
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        reply = await openai.AsyncOpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        await updater.add_artifact([Part(text=reply.choices[0].message.content or "")], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def main() -> None:
    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after shutting down, which would skip the exit-time export.
            yield

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    card = AgentCard(
        name="advisor",
        description="Says whether a city is worth a visit.",
        version="1.0.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        capabilities=AgentCapabilities(streaming=True),
        supported_interfaces=[AgentInterface(protocol_binding="JSONRPC", url=url, protocol_version="1.0")],
        skills=[AgentSkill(id="advise", name="advise", description="Travel advice.", tags=["travel"])],
    )
    handler = DefaultRequestHandler(agent_executor=Advisor(), task_store=InMemoryTaskStore(), agent_card=card)
    app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])
    web = Quiet(uvicorn.Config(app, log_level="warning", lifespan="off"))
    signal.signal(signal.SIGTERM, lambda *_: setattr(web, "should_exit", True))
    print(f"port {sock.getsockname()[1]}", flush=True)
    asyncio.run(web.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
