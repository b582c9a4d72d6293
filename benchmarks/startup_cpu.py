"""Start-up CPU: ``instrument()``, what it starts in the background and the first call's pricing, over a process
that imports the OpenTelemetry SDK pieces and makes the same first call uninstrumented.

Each run is a fresh interpreter; its CPU time (user + system, every thread, from ``wait4``) is measured from
outside, so interpreter start, imports, background threads and exit all count. Both variants build the same SDK
providers and make one chat call through the real ``openai`` client to an in-process ``MockTransport``; "ours"
adds ``import otel_agentmetrics; instrument(...)`` before the client is imported, as the docs tell users to. The
environment is the machine's (every extra installed), so ``instrument()`` sees every supported library.
Bytecode caches are written by one unmeasured run first (an installed package has them): ``PYTHONDONTWRITEBYTECODE``
is unset for every run, so the workers write and use ``.pyc`` files even where the environment sets it.

    python benchmarks/startup_cpu.py [--runs 11] [--instructions]

Prints the median CPU milliseconds of each variant and the difference (the issue's start-up figure), plus
``AGENTMETRICS_PRICE_INDEX=0`` (no price index: genai-prices imported) for comparison. On a shared machine CPU time
drifts with the load; ``--instructions`` also counts each variant's instructions once under valgrind's callgrind
(a minute a run; ``PYTHONHASHSEED=0``), which a busy machine does not change.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

_SDK = """
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
tracer_provider, reader = TracerProvider(), InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[reader])
"""
_OURS = """
import otel_agentmetrics
otel_agentmetrics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
"""
_CALL = """
import json
import openai
from openai._base_client import httpx2 as httpx
body = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1731368630, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}).encode()
transport = httpx.MockTransport(lambda request: httpx.Response(200, json=json.loads(body)))
client = openai.OpenAI(api_key="bench", http_client=httpx.Client(transport=transport))
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
"""
_CHECK = """
points = reader.get_metrics_data()
if {CHECK}:
    names = [m.name for rm in points.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert "gen_ai.usage.cost" in names, names
"""
VARIANTS = {
    "sdk + call (baseline)": (_SDK + _CALL + _CHECK.replace("{CHECK}", "False"), {}),
    "ours": (_SDK + _OURS + _CALL + _CHECK.replace("{CHECK}", "True"), {}),
    "ours, no price index": (
        _SDK + _OURS + _CALL + _CHECK.replace("{CHECK}", "True"),
        {"AGENTMETRICS_PRICE_INDEX": "0"},
    ),
}


def cpu_ms(code: str, env: dict[str, str]) -> float:
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"worker failed:\n{code}")
    return (usage.ru_utime + usage.ru_stime) * 1000


def instructions(code: str, env: dict[str, str]) -> int:
    """Instructions the worker executes, every thread, from start to exit (valgrind's callgrind)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", code],
            env={**env, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed under valgrind:\n{done.stderr[-2000:]}")
    return int(re.findall(r"Collected : (\d+)", done.stderr)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--instructions", action="store_true", help="also count instructions under callgrind")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "AGENTMETRICS_STORE": os.path.join(tmp, "store.db"), "XDG_CACHE_HOME": tmp}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        for code, extra in VARIANTS.values():
            cpu_ms(code, {**base, **extra})  # bytecode caches, and the price index written once
        for _ in range(args.runs):
            for name, (code, extra) in VARIANTS.items():  # interleaved: drift on a busy machine hits all alike
                samples[name].append(cpu_ms(code, {**base, **extra}))
        counts: dict[str, int] = {}
        if args.instructions:  # the index and caches the timed runs wrote are in place
            counts = {name: instructions(code, {**base, **extra}) for name, (code, extra) in VARIANTS.items()}
    median = {name: statistics.median(values) for name, values in samples.items()}
    baseline = median["sdk + call (baseline)"]
    for name, ms in median.items():
        extra_ms = "" if name.startswith("sdk") else f"  (+{ms - baseline:.0f} ms over the baseline)"
        print(f"{name:<28} {ms:7.0f} ms CPU{extra_ms}")
    if counts:
        base_count = counts["sdk + call (baseline)"]
        for name, count in counts.items():
            share = count / base_count - 1
            more = "" if name.startswith("sdk") else f"  (+{(count - base_count) / 1e6:.0f} M, {share:+.1%})"
            print(f"{name:<28} {count / 1e6:7.0f} M instructions{more}")


if __name__ == "__main__":
    main()
