"""An A2A client for the two-process tests.

    python tests/apps/a2a_client.py instrumented|plain '[["LABEL", "URL"], ...]'

For each server in turn: resolves its card, sends a message (non-streaming), reads the task back (``GetTask``),
sends one as a stream, and sends ``fail`` (the agent raises), inside an agent run ``a2a-user-LABEL`` when
instrumented. The plain client sends a ``traceparent`` in its service parameters (HTTP headers), as an HTTP-level
tracer in front of it would. Prints one JSON line: per label, what each call returned, as the caller sees it (ids
left out: they are random).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

mode, targets = sys.argv[1], json.loads(sys.argv[2])
if mode == "instrumented":
    import otel_agentmetrics

    otel_agentmetrics.instrument(otlp=True, store=False, service_name="a2a-client")

from a2a.client import ClientCallContext, ClientConfig, create_client  # noqa: E402
from a2a.helpers.proto_helpers import get_artifact_text  # noqa: E402
from a2a.types.a2a_pb2 import GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState  # noqa: E402

HTTP_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def context() -> ClientCallContext | None:
    if mode == "instrumented":
        return None
    return ClientCallContext(service_parameters={"traceparent": HTTP_TRACEPARENT})


def request(text: str, number: int) -> SendMessageRequest:
    return SendMessageRequest(message=Message(role=Role.ROLE_USER, message_id=f"m{number}", parts=[Part(text=text)]))


async def send(client: Any, text: str, number: int) -> tuple[list[str], Any]:
    kinds, task = [], None
    async for event in client.send_message(request(text, number), context=context()):
        kinds.append(event.WhichOneof("payload"))
        if event.HasField("task"):
            task = event.task
    return kinds, task


async def calls(url: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with await create_client(url, client_config=ClientConfig(streaming=False)) as client:
        kinds, task = await send(client, "Is Porto a good place to visit in spring?", 1)
        seen["send"] = {
            "events": kinds,
            "state": TaskState.Name(task.status.state),
            "answer": [get_artifact_text(artifact) for artifact in task.artifacts],
        }
        again = await client.get_task(GetTaskRequest(id=task.id), context=context())
        seen["get_task"] = TaskState.Name(again.status.state)
        try:
            await send(client, "fail", 2)
            seen["fail"] = "no error"
        except Exception as error:
            seen["fail"] = [type(error).__name__, str(error)]
    async with await create_client(url, client_config=ClientConfig(streaming=True)) as client:
        kinds, task = await send(client, "Is Porto a good place to visit in spring?", 3)
        seen["stream"] = {"events": kinds, "first_state": TaskState.Name(task.status.state)}
    return seen


async def main() -> None:
    seen = {}
    for label, url in targets:
        run = otel_agentmetrics.agent(f"a2a-user-{label}") if mode == "instrumented" else contextlib.nullcontext()
        with run:
            seen[label] = await calls(url)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
