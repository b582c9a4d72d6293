"""Soak: resident memory over a million instrumented calls, next to the same loop uninstrumented.

The real ``openai`` client talks to an in-process transport that hands back prebuilt responses (no sockets), in a
mix that walks every path a long-lived agent walks: plain chat calls, streams read to the end, streams left after
two chunks (closed by the garbage collector), and failed calls whose 400 body echoes the prompt and key (the
error path: masking, exception events). Calls cycle through ``--models`` distinct model names (a gateway passing
user-chosen names: unpriced, each its own series) and run inside ``attributes(tenant=..., user=...)`` scopes of
``--tenants`` tenants and ten times as many users, with ``tenant`` allowed on metrics. Behind it, the SDK
pipeline an app has: a batch span processor exporting to a dropping exporter, and a metric reader collected
every ``--collect`` calls as a periodic exporter would.

Each variant runs in its own process. Every ``--every`` calls it prints the process's resident set size (from
``/proc/self/statm``, so what is held now, not the peak) and the calls per second so far.

    python benchmarks/soak_rss.py [--calls 1000000] [--every 100000] [--variants none,ours] [--models 20000]

A benchmark, not a test: nothing here asserts. Flat RSS after the first interval (imports, caches, the span queue
filling to its bound) is the expected shape; growth proportional to calls is a leak.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

_COMPLETION = {
    "id": "chatcmpl-soak",
    "object": "chat.completion",
    "created": 1731368630,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "This is a test.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}
_PROMPT = "Summarise the quarterly numbers for the board, please."
_KEY = "sk-proj-SoakTestKey0123456789abcdef"
_ERROR = {"error": {"message": f"invalid request for {_PROMPT!r} with key {_KEY}", "type": "invalid_request_error"}}


def _stream_body(chunks: int = 8) -> bytes:
    base = {"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 1731368639, "model": "gpt-4o-mini"}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]}
        for i in range(chunks)
    ]
    events[-1]["choices"][0]["finish_reason"] = "stop"
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker(variant: str, calls: int, every: int, collect: int, models: int, tenants: int) -> None:
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from otel_agentmetrics import attributes
    from otel_agentmetrics._config import resolve
    from otel_agentmetrics._telemetry import Telemetry
    from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

    httpx = getattr(openai._base_client, "httpx2", None) or openai._base_client.httpx

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    if variant == "ours":
        telemetry = Telemetry(tracer_provider, meter_provider)
        telemetry.labels.configure(["tenant"], 100)
        OpenAIInstrumentor().instrument(telemetry=telemetry, settings=resolve(stream_usage=False))

    completion = json.dumps(_COMPLETION).encode()
    stream = _stream_body()
    error = json.dumps(_ERROR).encode()

    class Answer(httpx.BaseTransport):
        """Prebuilt answers, chosen by the request's ``stream`` flag and model: no sockets, no parsing of ours."""

        def handle_request(self, request: Any) -> Any:
            body = request.content
            if b'"stream":true' in body or b'"stream": true' in body:
                return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
            if b"bad-model" in body:
                return httpx.Response(400, headers={"content-type": "application/json"}, content=error)
            return httpx.Response(200, headers={"content-type": "application/json"}, content=completion)

    client = openai.OpenAI(api_key=_KEY, max_retries=0, http_client=httpx.Client(transport=Answer()))
    messages = [{"role": "user", "content": _PROMPT}]
    create = client.chat.completions.create
    start = time.perf_counter()
    print(json.dumps({"calls": 0, "rss_mb": round(_rss_mb(), 1), "per_s": 0}), flush=True)
    for i in range(1, calls + 1):
        kind = i % 10
        model = f"gpt-4o-mini-{i % models}" if models > 1 else "gpt-4o-mini"
        with attributes(tenant=f"tenant-{i % tenants}", user=f"user-{i % (tenants * 10)}"):
            if kind < 6:
                create(model=model, messages=messages)  # type: ignore[arg-type]
            elif kind < 8:
                for _ in create(model=model, messages=messages, stream=True):  # type: ignore[arg-type]
                    pass
            elif kind == 8:
                chunks = iter(create(model=model, messages=messages, stream=True))  # type: ignore[arg-type]
                next(chunks)
                next(chunks)
                del chunks  # abandoned midway: the collector ends the call
            else:
                with contextlib.suppress(openai.BadRequestError):
                    create(model="bad-model", messages=messages)  # type: ignore[arg-type]
        if i % collect == 0:
            reader.get_metrics_data()
        if i % every == 0:
            gc.collect()
            elapsed = time.perf_counter() - start
            print(json.dumps({"calls": i, "rss_mb": round(_rss_mb(), 1), "per_s": round(i / elapsed)}), flush=True)
    tracer_provider.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000, help="report RSS every this many calls")
    parser.add_argument("--collect", type=int, default=10_000, help="collect metrics every this many calls")
    parser.add_argument("--variants", default="none,ours")
    parser.add_argument("--models", type=int, default=20_000, help="distinct model names the calls cycle through")
    parser.add_argument("--tenants", type=int, default=1000, help="distinct tenants (and ten times as many users)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.calls, args.every, args.collect, args.models, args.tenants)
        return
    import openai

    print(f"python {sys.version.split()[0]}, openai {openai.__version__}, {os.cpu_count()} CPUs")
    print(f"{args.calls} calls per variant: 60% chat, 20% streams read whole, 10% streams abandoned, 10% errors")
    print(f"{args.models} distinct models, {args.tenants} tenants, {args.tenants * 10} users")
    table: dict[str, list[dict[str, Any]]] = {}
    for variant in args.variants.split(","):
        command = [sys.executable, __file__, "--worker", variant, "--calls", str(args.calls)]
        command += ["--every", str(args.every), "--collect", str(args.collect)]
        command += ["--models", str(args.models), "--tenants", str(args.tenants)]
        rows = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as worker:
            assert worker.stdout is not None
            for line in worker.stdout:
                row = json.loads(line)
                rows.append(row)
                print(f"  {variant:5} {row['calls']:>9} calls  RSS {row['rss_mb']:7.1f} MB  {row['per_s']:>6} calls/s")
        table[variant] = rows
    print("\ncalls      " + "".join(f"{v + ' RSS MB':>14}" for v in table))
    for index, row in enumerate(next(iter(table.values()))):
        cells = "".join(f"{rows[index]['rss_mb']:>14.1f}" if index < len(rows) else " " * 14 for rows in table.values())
        print(f"{row['calls']:>9}  {cells}")


if __name__ == "__main__":
    main()
