"""An instrumented program for exporter tests: chat completions in a loop, telemetry configured by the caller.

    python tests/apps/chat_loop.py BASE_URL '{"rounds": 3, "instrument": {...}}'

Each round makes the calls named in ``options["calls"]`` (default: one plain call, one streamed call and one
call to a missing model, a 404) with the real openai client; ``unpriced`` calls a model without a price and
``agent`` runs an agent that uses a tool, a failing tool, two operations (one failing) and the model (and, with
``"evaluate": true``, records an evaluation of its answer); ``retrieve`` searches a FAISS index twice (the second
with a vector of the wrong dimension, which fails).
Exporters come from ``instrument(**options["instrument"])`` and the ``OTEL_*`` environment. Prints one JSON
line: the latency of every call and how long the rounds took. Exits normally, so the providers' final flush at
exit runs, as in a real short-lived script. With ``"wait_for_stdin": true`` it prints ``ready`` after
``instrument()``, starts the calls on the next stdin line and exits once its stdin is closed.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

import openai

import otel_agentmetrics


@otel_agentmetrics.tool
def lookup(city: str) -> str:
    return f"sunny in {city}"


@otel_agentmetrics.tool
def flaky(city: str) -> str:
    raise TimeoutError(f"weather service timed out for {city}")


def mcp_calls() -> None:
    """An MCP tool call and a failing one (``isError``), client and server in this process (mcp 2.x's in-memory
    transport): the MCP metrics of both sides."""
    import asyncio
    import logging

    from mcp.client.client import Client
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    logging.getLogger("mcp").setLevel(logging.ERROR)  # the server logs each failed tool: a test reads our stderr

    server = MCPServer("calculator")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    def divide(a: int, b: int) -> float:
        if b == 0:
            raise ToolError("division by zero")
        return a / b

    async def go() -> None:
        async with Client(server) as client:
            await client.call_tool("add", {"a": 2, "b": 3})
            await client.call_tool("divide", {"a": 1, "b": 0})

    asyncio.run(go())


def main() -> None:
    base_url, options = sys.argv[1], json.loads(sys.argv[2])
    otel_agentmetrics.instrument(**options.get("instrument", {}))
    if options.get("wait_for_stdin"):  # the test starts the calls once Prometheus has scraped the idle program
        print("ready", flush=True)
        sys.stdin.readline()
    client = openai.OpenAI(base_url=base_url, api_key="test_openai_api_key", max_retries=0)
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(options.get("rounds", 1)):
        for kind in options.get("calls", ["plain", "stream", "missing"]):
            begin = time.perf_counter()
            try:
                if kind == "plain":
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
                    )
                elif kind == "stream":
                    stream = client.chat.completions.create(
                        model="gpt-4",
                        messages=[{"role": "user", "content": "Say this is a test"}],
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                    for _chunk in stream:
                        pass
                elif kind == "unpriced":
                    client.chat.completions.create(model="local-llama", messages=[{"role": "user", "content": "hi"}])
                elif kind == "agent":
                    with otel_agentmetrics.agent("triage"):
                        with otel_agentmetrics.operation("db_query"):
                            pass
                        with contextlib.suppress(LookupError), otel_agentmetrics.operation("rerank"):
                            raise LookupError("no documents")
                        lookup("Paris")
                        with contextlib.suppress(TimeoutError):
                            flaky("Oslo")
                        answer = client.chat.completions.create(
                            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
                        )
                    if options.get("evaluate"):  # a verdict on the agent's answer, by its response id
                        otel_agentmetrics.record_evaluation(
                            "relevance", score=0.75, label="relevant", response_id=answer.id
                        )
                elif kind == "retrieve":
                    import faiss  # noqa: PLC0415 - only the programs that retrieve pay for the import
                    import numpy

                    index = faiss.IndexFlatL2(4)
                    index.add(numpy.eye(4, dtype="float32"))
                    index.search(numpy.eye(4, dtype="float32")[:1], 2)
                    with contextlib.suppress(AssertionError):
                        index.search(numpy.ones((1, 3), dtype="float32"), 2)  # wrong dimension: FAISS asserts
                elif kind == "mcp":
                    mcp_calls()
                else:
                    client.chat.completions.create(
                        model="this-model-does-not-exist", messages=[{"role": "user", "content": "hi"}]
                    )
            except openai.NotFoundError:
                pass
            latencies.append(time.perf_counter() - begin)
        time.sleep(options.get("interval", 0))
    print(json.dumps({"latencies": latencies, "elapsed": time.perf_counter() - started}), flush=True)
    if options.get("wait_for_stdin"):  # keep serving /metrics until the test is done scraping
        sys.stdin.read()


if __name__ == "__main__":
    main()
