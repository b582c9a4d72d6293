"""An instrumented program for exporter tests: chat completions in a loop, telemetry configured by the caller.

    python tests/apps/chat_loop.py BASE_URL '{"rounds": 3, "instrument": {...}}'

Each round makes one plain call, one streamed call and one call to a missing model (a 404) with the real openai
client; exporters come from ``instrument(**options["instrument"])`` and the ``OTEL_*`` environment. Prints one
JSON line: the latency of every call and how long the rounds took. Exits normally, so the providers' final
flush at exit runs, as in a real short-lived script.
"""

from __future__ import annotations

import json
import sys
import time

import openai

import otel_agentmetrics


class PerMillion:
    """Prices from a fixed per-million-token table, so tests can work out the dollars by hand."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def price(self, record: object) -> object:
        from otel_agentmetrics.pricing import Cost

        prices = self.table.get(getattr(record, "request_model", None) or "")
        if prices is None:
            return None
        input_tokens = getattr(record, "input_tokens", None) or 0
        output_tokens = getattr(record, "output_tokens", None) or 0
        return Cost((input_tokens * prices[0] + output_tokens * prices[1]) / 1_000_000, "test table")


def main() -> None:
    base_url, options = sys.argv[1], json.loads(sys.argv[2])
    telemetry = otel_agentmetrics.instrument(**options.get("instrument", {}))
    if "prices_per_million" in options:
        telemetry.pricer = PerMillion(options["prices_per_million"])  # type: ignore[assignment]
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
                else:
                    client.chat.completions.create(
                        model="this-model-does-not-exist", messages=[{"role": "user", "content": "hi"}]
                    )
            except openai.NotFoundError:
                pass
            latencies.append(time.perf_counter() - begin)
        time.sleep(options.get("interval", 0))
    print(json.dumps({"latencies": latencies, "elapsed": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    main()
