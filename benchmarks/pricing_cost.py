"""Per-call cost of the pricing step: ``Pricer.price(record)``, cold (first call of a model) and warm.

Run: ``python benchmarks/pricing_cost.py``. Prints medians in microseconds and, for comparison, genai-prices'
own ``calc_price`` for the same usage (what a call would pay without our compiled, cached rates).
"""

from __future__ import annotations

import os
import platform
import statistics
import time

from otel_agentmetrics.pricing import Pricer
from otel_agentmetrics.record import CallRecord

MODELS = [
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4.1-mini-2025-04-14"),
    ("openai", "o3-mini-2025-01-31"),
    ("openai", "gpt-5"),
    ("openai", "gpt-3.5-turbo-0125"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-opus-4-1-20250805"),
    ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("aws.bedrock", "amazon.nova-lite-v1:0"),
    ("aws.bedrock", "meta.llama3-1-8b-instruct-v1:0"),
    ("azure.ai.openai", "gpt-4o-2024-08-06"),
    ("gcp.gemini", "gemini-2.5-flash"),
    ("gcp.vertex_ai", "gemini-2.5-pro"),
    ("mistral_ai", "mistral-large-latest"),
    ("cohere", "command-r-plus"),
    ("groq", "llama-3.1-8b-instant"),
    ("deepseek", "deepseek-chat"),
    ("x_ai", "grok-3"),
    ("openrouter", "anthropic/claude-3.5-sonnet"),
    ("openai", "no-such-model"),  # unknown: the cached "no price" answer
]


def record(provider: str, model: str) -> CallRecord:
    return CallRecord(
        operation="chat",
        provider=provider,
        request_model=model,
        response_model=model,
        input_tokens=1200,
        output_tokens=300,
        cache_read_input_tokens=1024,
    )


def main() -> None:
    pricer = Pricer()
    started = time.perf_counter()
    pricer.load()
    load_ms = (time.perf_counter() - started) * 1000

    cold = []
    for provider, model in MODELS:
        rec = record(provider, model)
        t0 = time.perf_counter()
        pricer.price(rec)
        cold.append((time.perf_counter() - t0) * 1e6)

    warm = []
    records = [record(p, m) for p, m in MODELS]
    rounds, per_round = 30, 2000
    for _ in range(rounds):
        for rec in records:
            t0 = time.perf_counter()
            for _ in range(per_round):
                pricer.price(rec)
            warm.append((time.perf_counter() - t0) / per_round * 1e6)

    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024)
    calc_price(usage, "gpt-4o-mini-2024-07-18", provider_id="openai")
    genai = []
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(500):
            calc_price(usage, "gpt-4o-mini-2024-07-18", provider_id="openai")
        genai.append((time.perf_counter() - t0) / 500 * 1e6)

    print(f"machine: {platform.processor() or platform.machine()}, {_cpu()}, nproc={os.cpu_count()}")
    print(f"python {platform.python_version()}")
    print(f"table load (synchronous, this process):   {load_ms:8.1f} ms")
    print(f"cold price() per model, median of {len(cold)}:   {statistics.median(cold):8.1f} us (max {max(cold):.1f})")
    print(f"warm price() per call, median:            {statistics.median(warm):8.2f} us")
    print(f"genai_prices.calc_price per call, median: {statistics.median(genai):8.1f} us")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
