"""An instrumented program for exporter tests: chat completions in a loop, telemetry configured by the caller.

    python tests/apps/chat_loop.py BASE_URL '{"rounds": 3, "instrument": {...}}'

Each round makes the calls named in ``options["calls"]`` (default: one plain call, one streamed call and one
call to a missing model, a 404) with the real openai client; ``unpriced`` calls a model without a price and
``agent`` runs an agent that uses a tool, a failing tool, two operations (one failing) and the model (and, with
``"evaluate": true``, records an evaluation of its answer).
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
