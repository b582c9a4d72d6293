"""Overhead of OpenAI instrumentation: none vs ours vs contrib ``opentelemetry-instrumentation-openai-v2`` vs a floor.

The real ``openai`` client talks to an in-process ``MockTransport`` that answers with realistic bodies: a chat
completion, a 50-chunk stream ending in a usage chunk, a tool-call response, and a 550-chunk stream (the
difference between the two streams is the marginal cost per chunk). Each variant runs in its own
process (fresh imports, nothing shared), rounds are interleaved (none, ours, contrib, minimal, ...) so drift on a
busy machine hits all three alike, and every variant has the same SDK pipeline behind it: a batch span processor
exporting to a dropping exporter and an in-memory metric reader.

    pip install -e '.[bench]'
    python benchmarks/openai_overhead.py [--rounds 5] [--calls 1000]

Prints, per scenario and variant, the median time per call (wall and CPU) and the mean CPU time per call over
the whole loop plus one metric collection at its end (so work deferred to collection is counted); our and
contrib's overhead over the uninstrumented client, the ratio between the two, the marginal cost per streamed
chunk, and ``import otel_agentmetrics`` + ``instrument()`` in a fresh interpreter.
A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

VARIANTS = ("none", "ours", "contrib", "minimal")
SCENARIOS = ("chat", "stream", "tools", "long")
CHUNKS = 50
LONG_CHUNKS = 550
"""The long stream: the marginal cost per chunk is (long - stream) / (LONG_CHUNKS - CHUNKS), per variant."""

_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1731368630,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_0ba0d124f1",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "This is a test. How can I assist you further?",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 12,
        "total_tokens": 24,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
}
_TOOLS = {
    **_COMPLETION,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{city}",
                        "type": "function",
                        "function": {"name": "get_current_weather", "arguments": json.dumps({"location": city})},
                    }
                    for city in ("Seattle", "SanFrancisco")
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
}


def _stream_body(chunks: int) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1731368639, "model": "gpt-4o-mini"}
    events = []
    for i in range(chunks - 1):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f" word{i}"}
        events.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}], "usage": None})
    events[-1]["choices"][0]["finish_reason"] = "stop"
    usage = {"prompt_tokens": 12, "completion_tokens": chunks - 2, "total_tokens": chunks + 10}
    events.append({**base, "choices": [], "usage": usage})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"


def sdk_pipeline() -> tuple[Any, Any, Any]:
    """``(tracer provider, meter provider, reader)``: the SDK pipeline behind every variant, as an app has one: a
    batch span processor exporting to a dropping exporter, and an in-memory metric reader."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    reader = InMemoryMetricReader()
    return tracer_provider, MeterProvider(metric_readers=[reader]), reader


def instrument_variant(variant: str, tracer_provider: Any, meter_provider: Any) -> None:
    """Instrument the ``openai`` client as ``variant`` (none, ours, contrib, minimal), all on the same pipeline."""
    if variant == "ours":
        from otel_agentmetrics._config import resolve
        from otel_agentmetrics._telemetry import Telemetry
        from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(
            telemetry=Telemetry(tracer_provider, meter_provider), settings=resolve(stream_usage=False)
        )
    elif variant == "contrib":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Contrib

        Contrib().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif variant == "minimal":
        _minimal_instrumentation(tracer_provider, meter_provider)


def _worker(variant: str, calls: int) -> dict[str, float]:
    import openai

    tracer_provider, meter_provider, reader = sdk_pipeline()
    instrument_variant(variant, tracer_provider, meter_provider)

    from openai._base_client import httpx2 as httpx  # type: ignore[attr-defined]

    chat, tools, stream = json.dumps(_COMPLETION).encode(), json.dumps(_TOOLS).encode(), _stream_body(CHUNKS)
    long_stream = _stream_body(LONG_CHUNKS)
    json_headers = [("content-type", "application/json"), ("x-request-id", "req_bench")]
    sse_headers = [("content-type", "text/event-stream"), ("x-request-id", "req_bench")]

    def handler(request: Any) -> Any:
        body = request.content
        if b'"stream":true' in body or b'"stream": true' in body:
            content = long_stream if b"a long test" in body else stream
            return httpx.Response(200, headers=sse_headers, content=content, request=request)
        content = tools if b'"tools"' in body else chat
        return httpx.Response(200, headers=json_headers, content=content, request=request)

    client = openai.OpenAI(api_key="bench", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    messages = [{"role": "user", "content": "Say this is a test"}]
    weather = [
        {
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]
    create = client.chat.completions.create

    def run_chat() -> None:
        create(model="gpt-4o-mini", messages=messages)

    usage = {"include_usage": True}

    def run_stream() -> None:
        for _ in create(model="gpt-4o-mini", messages=messages, stream=True, stream_options=usage):
            pass

    def run_tools() -> None:
        create(model="gpt-4o-mini", messages=messages, tools=weather)

    long_messages = [{"role": "user", "content": "Say this is a long test"}]

    def run_long() -> None:
        for _ in create(model="gpt-4o-mini", messages=long_messages, stream=True, stream_options=usage):
            pass

    results: dict[str, float] = {}
    wall, cpu = time.perf_counter, time.thread_time
    for name, run, count in (
        ("chat", run_chat, calls),
        ("stream", run_stream, calls),
        ("tools", run_tools, calls),
        ("long", run_long, max(20, calls // 10)),
    ):
        for _ in range(max(10, count // 5)):
            run()
        reader.get_metrics_data()  # start the timed calls with nothing waiting to be recorded
        walls, cpus = [], []
        began = cpu()
        for _ in range(count):
            start, start_cpu = wall(), cpu()
            run()
            cpus.append(cpu() - start_cpu)
            walls.append(wall() - start)
        reader.get_metrics_data()  # a collection: metric points still queued are recorded now, and counted
        results[f"wall:{name}"] = statistics.median(walls)
        results[f"cpu:{name}"] = statistics.median(cpus)
        results[f"mean:{name}"] = (cpu() - began) / count
    tracer_provider.shutdown()
    return results


def _startup() -> float:
    """``import otel_agentmetrics`` + ``instrument()`` in a fresh interpreter (median of 5), in seconds.

    One unmeasured run first, allowed to write bytecode caches: an installed package has them (pip compiles at
    install time), while an editable checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile our
    modules from source on every start and measure the compiler.
    """
    code = (
        "import time; t = time.perf_counter(); import otel_agentmetrics; otel_agentmetrics.instrument();"
        " print(time.perf_counter() - t)"
    )
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AGENTMETRICS_STORE": os.path.join(tmp, "store.db")}
        warm = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-c", code], env=warm, capture_output=True, text=True, check=True)
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def _minimal_instrumentation(tracer_provider: Any, meter_provider: Any) -> Callable[[], None]:
    """The floor: a hand-written wrapper with one span and two histograms (duration, tokens), nothing else.

    No stream handling, no cost, no request/response attributes beyond the model: what any instrumentation that
    uses the OTel SDK pays at least, measured in the same run as the others. Returns the function that removes it.
    """
    import wrapt
    from opentelemetry.trace import SpanKind

    tracer = tracer_provider.get_tracer("minimal")
    meter = meter_provider.get_meter("minimal")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")

    def traced(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        model = kwargs.get("model")
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model}
        start = time.perf_counter()
        with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes):
            result = wrapped(*args, **kwargs)
        duration.record(time.perf_counter() - start, attributes)
        usage = getattr(result, "usage", None)
        if usage is not None:
            tokens.record(usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"})
        return result

    wrapt.wrap_function_wrapper("openai.resources.chat.completions", "Completions.create", traced)

    def remove() -> None:
        from openai.resources.chat.completions import Completions

        Completions.create = Completions.create.__wrapped__  # type: ignore[method-assign]

    return remove


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.calls)))
        return

    per_round: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for round_ in range(args.rounds):
        shift = round_ % len(VARIANTS)
        order = VARIANTS[shift:] + VARIANTS[:shift]  # rotate who goes first
        for variant in order:
            cmd = [sys.executable, __file__, "--worker", variant, "--calls", str(args.calls)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            per_round[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    for clock in ("wall", "cpu", "mean"):
        _report(per_round, clock)
    print(f"import otel_agentmetrics + instrument(): {_startup() * 1000:.1f} ms")


_CLOCKS = {
    "wall": "wall time, median per call",
    "cpu": "CPU time of the calling thread, median per call (steadier on a busy machine)",
    "mean": "CPU time of the calling thread, mean per call over the whole timed loop plus one metric collection at"
    " its end (counts rare slow calls and work deferred to collection, which a median does not see)",
}


def _report(per_round: dict[str, list[dict[str, float]]], clock: str) -> None:
    med = {v: {s: statistics.median(r[f"{clock}:{s}"] for r in per_round[v]) for s in SCENARIOS} for v in VARIANTS}
    us = 1e6
    print(f"-- {_CLOCKS[clock]}")
    print(
        f"{'scenario':<8} {'none us':>9} {'ours us':>9} {'contrib us':>11} {'ours +us':>9} {'contrib +us':>12}"
        f" {'minimal +us':>12} ratio"
    )
    overhead: dict[str, dict[str, float]] = {"ours": {}, "contrib": {}, "minimal": {}}
    for s in SCENARIOS:
        for v in ("ours", "contrib", "minimal"):
            overhead[v][s] = med[v][s] - med["none"][s]
        ratio = overhead["ours"][s] / overhead["contrib"][s] if overhead["contrib"][s] > 0 else float("nan")
        print(
            f"{s:<8} {med['none'][s] * us:9.1f} {med['ours'][s] * us:9.1f} {med['contrib'][s] * us:11.1f}"
            f" {overhead['ours'][s] * us:9.1f} {overhead['contrib'][s] * us:12.1f}"
            f" {overhead['minimal'][s] * us:12.1f} {ratio:5.2f}"
        )
    chunk = {v: (overhead[v]["stream"] - overhead[v]["chat"]) / CHUNKS for v in ("ours", "contrib")}
    print(
        f"per streamed chunk, the issue's formula (stream overhead - chat overhead) / {CHUNKS}:"
        f" ours {chunk['ours'] * us:.2f} us, contrib {chunk['contrib'] * us:.2f} us,"
        f" ratio {chunk['ours'] / chunk['contrib']:.2f}"
    )
    extra = LONG_CHUNKS - CHUNKS
    marginal = {v: (overhead[v]["long"] - overhead[v]["stream"]) / extra for v in ("ours", "contrib")}
    print(
        f"per streamed chunk, marginal (long overhead - stream overhead) / {extra}:"
        f" ours {marginal['ours'] * us:.2f} us, contrib {marginal['contrib'] * us:.2f} us,"
        f" ratio {marginal['ours'] / marginal['contrib']:.2f}"
    )


if __name__ == "__main__":
    main()
