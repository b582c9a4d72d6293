"""Cost of the GenAI name sets and of the content upload hook, against the uninstrumented client, in one run.

Variants, each in its own process, rounds interleaved (the workload and pipeline of ``openai_overhead.py``: the
real ``openai`` client on an in-process transport, a batch span processor to a dropping exporter, an in-memory
metric reader):

- ``none``: no instrumentation;
- ``legacy``: ours with the default (v1.41.1) names;
- ``latest``: ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (token histograms per direction and
  five usage counters instead of one histogram);
- ``dup``: ``agentmetrics_gen_ai_dup``, both sets;
- ``upload``: latest names and ``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK=upload`` to a temporary directory
  (content collected and handed to opentelemetry-util-genai's hook, written on its threads; capture off).

    python benchmarks/conventions_overhead.py [--rounds 5] [--calls 500]

Prints the median CPU time per call of the calling thread and each variant's overhead over ``none``.
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
from pathlib import Path
from typing import Any

VARIANTS = ("none", "legacy", "latest", "dup", "upload")
SCENARIOS = ("chat", "stream", "tools", "long")
ENV = {
    "none": {},
    "legacy": {},
    "latest": {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"},
    "dup": {"OTEL_SEMCONV_STABILITY_OPT_IN": "agentmetrics_gen_ai_dup"},
    "upload": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK": "upload",
        "OTEL_INSTRUMENTATION_GENAI_UPLOAD_MAX_QUEUE_SIZE": "64",
    },
}


def _worker(variant: str, calls: int) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).parent))
    import openai_overhead as base

    def instrument_variant(name: str, tracer_provider: Any, meter_provider: Any) -> None:
        if variant == "none":
            return
        from otel_agentmetrics import _upload
        from otel_agentmetrics._config import resolve
        from otel_agentmetrics._telemetry import Telemetry
        from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

        telemetry = Telemetry(tracer_provider, meter_provider)  # the name set comes from the environment
        if variant == "upload":
            assert _upload.load(telemetry) is not None
        OpenAIInstrumentor().instrument(telemetry=telemetry, settings=resolve(stream_usage=False))

    base.instrument_variant = instrument_variant
    return base._worker("ours", calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.calls)))
        return
    per_round: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as uploads:
        for round_ in range(args.rounds):
            shift = round_ % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
                env |= ENV[variant]
                if variant == "upload":
                    env["OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH"] = uploads
                cmd = [sys.executable, __file__, "--worker", variant, "--calls", str(args.calls)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
                per_round[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    us = 1e6
    for clock in ("cpu", "mean"):
        med = {v: {s: statistics.median(r[f"{clock}:{s}"] for r in per_round[v]) for s in SCENARIOS} for v in VARIANTS}
        print(f"-- {clock}: CPU time of the calling thread per call ({'median' if clock == 'cpu' else 'mean'}), us")
        print(f"{'scenario':<8} {'none':>8}" + "".join(f" {v + ' +':>10}" for v in VARIANTS[1:]))
        for s in SCENARIOS:
            base = med["none"][s]
            print(f"{s:<8} {base * us:8.1f}" + "".join(f" {(med[v][s] - base) * us:10.1f}" for v in VARIANTS[1:]))


if __name__ == "__main__":
    main()
