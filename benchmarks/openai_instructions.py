"""Overhead of OpenAI and Anthropic instrumentation in machine instructions, counted by valgrind's callgrind.

Timings on a shared VM move by 10-20% from run to run, which hides a change of a few percent. Instructions
executed do not depend on what else the machine is doing: the same code, inputs and environment give the same
count, so this is the benchmark to decide whether a change to the hot path helps. It does not see cache misses
or lock contention, so ``openai_overhead.py`` and ``openai_ab.py`` remain the measures of time.

For each variant (none, ours, contrib, minimal) and scenario, a worker makes ``warmup + calls`` calls under
callgrind, then once more with ``warmup + 2 * calls``; the difference over ``calls`` is the cost per call,
start-up and imports cancelled out. One metric collection at the end of each run records the points our calls
left waiting, so that deferred work is counted. The span exporter never runs inside the measured window
(``OTEL_BSP_SCHEDULE_DELAY`` is set far out and fewer than 512 spans end): its cost is the same for every
variant and depends on thread scheduling. The cyclic garbage collector is off in the measured loop: a full
collection costs tens of milliseconds and comes once every few hundred or thousand calls, for any variant that
keeps spans in the exporter's queue, so whether one falls inside the window would decide the result. The timing
benchmarks count those collections (``openai_overhead.py``'s mean); this one counts the code we run.

    apt-get install valgrind; pip install -e '.[bench]'
    python benchmarks/openai_instructions.py [--scenarios chat stream long anthropic_chat anthropic_stream]
        [--calls 200]

The ``anthropic_*`` scenarios make the same calls through the ``anthropic`` client: a message, and a streamed
message of 50 events (message_start, a text block of 45 deltas, message_delta, message_stop, and a ping the client
skips), as the Messages API sends them. Their contrib is ``opentelemetry-instrumentation-anthropic`` (when
installed); the minimal floor is OpenAI's only.

Prints thousands of instructions per call over the plain client, the ratio ours/contrib and minimal/contrib,
and with ``stream`` and ``long``, the marginal instructions per streamed chunk (skewed: see the last line it
prints; the chat figure is the one this benchmark is for). Each run takes from half a minute
(chat) to a few minutes (streams); two run at a time.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai_overhead import _COMPLETION, CHUNKS, LONG_CHUNKS, _stream_body, instrument_variant, sdk_pipeline

VARIANTS = ("none", "ours", "contrib", "minimal")
SCENARIOS = ("chat", "stream", "long", "anthropic_chat", "anthropic_stream")
ANTHROPIC_VARIANTS = ("none", "ours", "contrib")
WARMUP = 20

_ANTHROPIC_MODEL = "claude-sonnet-4-20250514"
_ANTHROPIC_USAGE = {"input_tokens": 13, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
_ANTHROPIC_MESSAGE = {
    "id": "msg_01bench",
    "type": "message",
    "role": "assistant",
    "model": _ANTHROPIC_MODEL,
    "content": [{"type": "text", "text": "This is a test. How can I assist you further?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {**_ANTHROPIC_USAGE, "output_tokens": 12, "service_tier": "standard"},
}


def _anthropic_stream_body(events: int) -> bytes:
    """A streamed message of ``events`` events (and one ping, which the client skips), shaped as the API sends it."""
    start = {
        **_ANTHROPIC_MESSAGE,
        "content": [],
        "stop_reason": None,
        "usage": {**_ANTHROPIC_USAGE, "output_tokens": 1},
    }
    deltas = events - 5
    sent = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}}
            for i in range(deltas)
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {**_ANTHROPIC_USAGE, "output_tokens": deltas},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in sent).encode()


def _anthropic_client(variant: str, scenario: str) -> tuple[Callable[[], None], Any]:
    """The call an ``anthropic_*`` scenario makes, the client instrumented as ``variant``."""
    import anthropic

    tracer_provider, meter_provider, reader = sdk_pipeline()
    if variant == "ours":
        from otel_agentmetrics._telemetry import Telemetry
        from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(telemetry=Telemetry(tracer_provider, meter_provider))
    elif variant == "contrib":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as Contrib

        Contrib().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    http = http_module_of(anthropic)
    stream = scenario == "anthropic_stream"
    body = _anthropic_stream_body(CHUNKS) if stream else json.dumps(_ANTHROPIC_MESSAGE).encode()
    headers = [("content-type", "text/event-stream" if stream else "application/json"), ("request-id", "req_bench")]

    def handler(request: Any) -> Any:
        return http.Response(200, headers=headers, content=body)

    client = anthropic.Anthropic(api_key="bench", http_client=http.Client(transport=http.MockTransport(handler)))
    messages = [{"role": "user", "content": "Say this is a test"}]
    create = client.messages.create

    def call() -> None:
        if stream:
            for _event in create(model=_ANTHROPIC_MODEL, max_tokens=100, messages=messages, stream=True):
                pass
        else:
            create(model=_ANTHROPIC_MODEL, max_tokens=100, messages=messages)

    return call, reader


def http_module_of(client_module: Any) -> Any:
    """The httpx flavour a client library uses (its 2.x/3.x releases use ``httpx2``; older ``httpx``)."""
    base = importlib.import_module(f"{client_module.__name__}._base_client")
    return getattr(base, "httpx2", None) or base.httpx


def _openai_client(variant: str, scenario: str) -> tuple[Callable[[], None], Any]:
    import openai

    tracer_provider, meter_provider, reader = sdk_pipeline()
    instrument_variant(variant, tracer_provider, meter_provider)
    httpx = http_module_of(openai)

    body = {
        "chat": json.dumps(_COMPLETION).encode(),
        "stream": _stream_body(CHUNKS),
        "long": _stream_body(LONG_CHUNKS),
    }[scenario]
    content_type = "application/json" if scenario == "chat" else "text/event-stream"

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers=[("content-type", content_type)], content=body)

    client = openai.OpenAI(api_key="bench", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    messages = [{"role": "user", "content": "Say this is a test"}]
    create = client.chat.completions.create
    options = {"include_usage": True}

    def call() -> None:
        if scenario == "chat":
            create(model="gpt-4o-mini", messages=messages)
        else:
            for _chunk in create(model="gpt-4o-mini", messages=messages, stream=True, stream_options=options):
                pass

    return call, reader


def _worker(variant: str, scenario: str, calls: int) -> None:
    client = _anthropic_client if scenario.startswith("anthropic") else _openai_client
    call, reader = client(variant, scenario)
    gc.disable()  # see the module docstring
    for _ in range(calls):
        call()
    reader.get_metrics_data()
    os._exit(0)  # skip interpreter teardown: its cost differs by variant and is not per call


def _instructions(variant: str, scenario: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONHASHSEED": "0", "OTEL_BSP_SCHEDULE_DELAY": "100000000"}
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmp}/out",
            sys.executable,
            __file__,
            "--worker",
            variant,
            scenario,
            str(calls),
        ]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def _variants(scenario: str) -> tuple[str, ...]:
    if not scenario.startswith("anthropic"):
        return VARIANTS
    if importlib.util.find_spec("opentelemetry.instrumentation.anthropic") is None:
        return ANTHROPIC_VARIANTS[:2]
    return ANTHROPIC_VARIANTS


def _k(value: float | None, width: int) -> str:
    return f"{value / 1e3:{width}.1f}" if value is not None else f"{'-':>{width}}"


def _ratio(value: float | None, contrib: float | None, width: int) -> str:
    return f"{value / contrib:{width}.2f}" if value is not None and contrib else f"{'-':>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=["chat"])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement (a tenth for long streams)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        variant, scenario, calls = args.worker
        _worker(variant, scenario, int(calls))
        return

    def per_call(job: tuple[str, str]) -> tuple[str, str, float]:
        variant, scenario = job
        calls = args.calls if scenario != "long" else max(1, args.calls // 10)
        short = _instructions(variant, scenario, WARMUP + calls)
        longer = _instructions(variant, scenario, WARMUP + 2 * calls)
        print(f"{variant}:{scenario} done", file=sys.stderr)
        return variant, scenario, (longer - short) / calls

    jobs = [(variant, scenario) for scenario in args.scenarios for variant in _variants(scenario)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = {(v, s): n for v, s, n in pool.map(per_call, jobs)}

    print(
        f"{'scenario':<16} {'none k':>8} {'ours +k':>8} {'contrib +k':>11} {'minimal +k':>11}"
        " ours/contrib minimal/contrib"
    )
    over: dict[tuple[str, str], float] = {}
    for scenario in args.scenarios:
        base = counts[("none", scenario)]
        for variant in _variants(scenario)[1:]:
            over[(variant, scenario)] = counts[(variant, scenario)] - base
        ours, contrib, minimal = (over.get((v, scenario)) for v in VARIANTS[1:])
        print(
            f"{scenario:<16} {base / 1e3:8.0f} {_k(ours, 8)} {_k(contrib, 11)} {_k(minimal, 11)}"
            f" {_ratio(ours, contrib, 12)} {_ratio(minimal, contrib, 15)}"
        )
    if "stream" in args.scenarios and "long" in args.scenarios:
        extra = LONG_CHUNKS - CHUNKS
        chunk = {v: (over[(v, "long")] - over[(v, "stream")]) / extra for v in ("ours", "contrib")}
        print(
            f"per streamed chunk, marginal (long - stream) / {extra}: ours {chunk['ours']:.0f},"
            f" contrib {chunk['contrib']:.0f} instructions, ratio {chunk['ours'] / chunk['contrib']:.2f}"
        )
    print("(minimal handles no stream: its stream figures are only the span around the call)")
    if "long" in args.scenarios:
        print(
            "(the long streams' counts are skewed, likely by cycle garbage piling up with the collector off: minimal,"
            " which does nothing per chunk, shows a few thousand instructions per chunk; trust openai_ab.py per chunk)"
        )


if __name__ == "__main__":
    main()
