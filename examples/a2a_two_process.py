"""An agent that hands a question to another agent over A2A (Agent2Agent), in another process: one trace through
both, the remote agent's model call and its cost included.

    pip install 'otel-agentmetrics[openai,a2a]'
    OPENAI_API_KEY=sk-... python examples/a2a_two_process.py

This file is both halves. Run as above, it is the caller: it starts the same file with ``--server`` (an A2A server
on a free local port, whose agent asks a model) and sends it a message. Both processes call ``instrument()``. The
caller's ``invoke_agent advisor`` span (the A2A client's ``send_message``) puts the trace context in the request's
HTTP headers, so the server's ``SendMessage advisor`` span, the agent's run under it and the model call inside sit
in the caller's trace. The server inherits the caller's environment, so both write to the same local store (and
export to the same OTLP endpoint, if one is set): ``agentmetrics report`` shows the remote model call and its cost.
"""

import asyncio
import signal
import subprocess
import sys

import otel_agentmetrics


def serve() -> None:
    otel_agentmetrics.instrument(service_name="travel-advisor")
    import contextlib
    import socket

    import openai
    import uvicorn
    from a2a.helpers.proto_helpers import new_task
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part, TaskState
    from starlette.applications import Starlette

    class Advisor(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            task_id, context_id = context.task_id or "", context.context_id or ""
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=[context.message])
            )
            updater = TaskUpdater(event_queue, task_id, context_id)
            await updater.start_work()
            reply = await openai.AsyncOpenAI().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": context.get_user_input()}]
            )
            await updater.add_artifact([Part(text=reply.choices[0].message.content or "")], name="advice")
            await updater.complete()

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            raise NotImplementedError

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    card = AgentCard(
        name="advisor",
        description="Whether a city is worth a visit in spring.",
        version="1.0.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        capabilities=AgentCapabilities(streaming=True),
        supported_interfaces=[AgentInterface(protocol_binding="JSONRPC", url=url, protocol_version="1.0")],
        skills=[AgentSkill(id="advise", name="advise", description="Travel advice.", tags=["travel"])],
    )
    handler = DefaultRequestHandler(agent_executor=Advisor(), task_store=InMemoryTaskStore(), agent_card=card)
    app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])

    class Server(uvicorn.Server):
        def capture_signals(self) -> contextlib.AbstractContextManager[None]:
            return contextlib.nullcontext()  # uvicorn would re-raise SIGTERM and skip the exit-time flush

    server = Server(uvicorn.Config(app, log_level="warning"))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    print(url, flush=True)
    asyncio.run(server.serve(sockets=[sock]))


async def ask(url: str) -> None:
    from a2a.client import create_client
    from a2a.helpers.proto_helpers import get_artifact_text
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

    question = Message(role=Role.ROLE_USER, message_id="q1", parts=[Part(text="Is Porto worth a visit in spring?")])
    with otel_agentmetrics.agent("travel-planner") as run:
        async with await create_client(url) as client:
            async for event in client.send_message(SendMessageRequest(message=question)):
                if event.HasField("task") and event.task.artifacts:
                    print(get_artifact_text(event.task.artifacts[0]))
                elif event.HasField("artifact_update"):
                    print(get_artifact_text(event.artifact_update.artifact))
    print(f"{run.model_calls} model calls here, {run.errors} errors; the advisor's model call is in the same trace")


def main() -> None:
    otel_agentmetrics.instrument(service_name="travel-planner")
    server = subprocess.Popen([sys.executable, __file__, "--server"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        asyncio.run(ask(server.stdout.readline().strip()))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    if "--server" in sys.argv:
        serve()
    else:
        main()
