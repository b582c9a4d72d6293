"""What ``process_metrics=True`` costs: start-up time, and time per metric collection (a scrape or an export).

Run: ``python benchmarks/process_metrics.py``. The model calls themselves pay nothing: the process metrics are
observable instruments, read by their callbacks only when a reader collects. So the two figures are what
``instrument()`` takes longer (importing psutil and the instrumentation, registering the instruments; each in a
fresh interpreter) and how much longer one collection takes, against the same provider without them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

START = (
    "import time, sys\n"
    "import otel_agentmetrics\n"
    "t0 = time.perf_counter()\n"
    "otel_agentmetrics.instrument(store=False, process_metrics=sys.argv[1] == 'on')\n"
    "print((time.perf_counter() - t0) * 1000)\n"
)


def start_ms(mode: str, runs: int = 7) -> float:
    times = [
        float(subprocess.run([sys.executable, "-c", START, mode], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times)


def collect_us(with_process_metrics: bool, rounds: int = 400) -> float:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_agentmetrics import process_metrics

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    counter = provider.get_meter("bench").create_counter("calls")  # something to collect either way
    counter.add(1, {"model": "gpt-4o-mini"})
    instrumentor = process_metrics.start(provider) if with_process_metrics else None
    reader.get_metrics_data()  # warm up
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        reader.get_metrics_data()
        samples.append(time.perf_counter() - t0)
    if instrumentor is not None:
        instrumentor.uninstrument()
    provider.shutdown()
    return statistics.median(samples) * 1e6


def main() -> None:
    import opentelemetry.instrumentation.system_metrics as system_metrics
    import psutil

    print(
        f"python {sys.version.split()[0]}, psutil {psutil.__version__}, {system_metrics.__name__} "
        f"{__import__('opentelemetry.instrumentation.system_metrics.version', fromlist=['__version__']).__version__}"
    )
    off, on = start_ms("off"), start_ms("on")
    print(f"instrument() without process metrics  {off:7.1f} ms (median of 7 fresh interpreters)")
    print(f"instrument() with process metrics     {on:7.1f} ms  (+{on - off:.1f} ms)")
    base, with_pm = collect_us(False), collect_us(True)
    print(f"one collection without                {base:7.1f} us (median of 400)")
    print(f"one collection with process metrics   {with_pm:7.1f} us  (+{with_pm - base:.1f} us per scrape or export)")


if __name__ == "__main__":
    main()
