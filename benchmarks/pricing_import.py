"""Import-time cost of pricing: each scenario runs in a fresh interpreter; medians of wall-clock milliseconds.

Run: ``python benchmarks/pricing_import.py``. "import" scenarios are what the user's thread pays; "load table"
is what the background thread started by ``instrument()`` pays (less when the client library already imported
pydantic, as openai and anthropic do).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

SCENARIOS = {
    "python -c pass (baseline)": "pass",
    "import otel_agentmetrics": "import otel_agentmetrics",
    "import otel_agentmetrics.pricing": "import otel_agentmetrics.pricing",
    "load table (no pydantic yet)": "from otel_agentmetrics.pricing import Pricer; Pricer().load()",
    "load table after import openai": "import openai\nfrom otel_agentmetrics.pricing import Pricer; Pricer().load()",
    "import openai alone": "import openai",
}
TIMER = (
    "import time, sys\n"
    "t0 = time.perf_counter()\n"
    "exec(compile(sys.argv[1], '<bench>', 'exec'))\n"
    "print((time.perf_counter() - t0) * 1000)\n"
)


def measure(code: str, runs: int = 9) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", TIMER, code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def main() -> None:
    results = {name: measure(code) for name, code in SCENARIOS.items()}
    for name, ms in results.items():
        print(f"{name:<36} {ms:8.1f} ms")
    openai_only = results["import openai alone"]
    with_table = results["load table after import openai"]
    print(f"{'table load on top of openai':<36} {with_table - openai_only:8.1f} ms")


if __name__ == "__main__":
    main()
