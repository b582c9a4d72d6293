"""examples/haystack_agent.py runs as a user would run it (no ``OPENAI_API_KEY``: it starts the stand-in itself);
what it recorded is read back from the store: one agent run above its two model calls and its tool call."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_agentmetrics.summary import summary

from .examples_kit import all_stored_spans, run_bare

pytest.importorskip("haystack")

GPT_4O_MINI = (0.15, 0.075, 0.60)  # USD per million tokens: input, cached input, output


def test_haystack_agent_example(tmp_path: Path) -> None:
    assert (
        run_bare("haystack_agent.py", tmp_path, HAYSTACK_TELEMETRY_ENABLED="False")
        == "Here is what I found: 22 degrees and sunny in Lisbon. Enjoy the trip!\n"
    )
    spans = all_stored_spans(tmp_path)
    assert [s["name"] for s in spans if s["kind"] == "agent"] == ["invoke_agent forecaster"]
    assert [s["name"] for s in spans if s["kind"] == "tool"] == ["execute_tool get_weather"]
    models = [s for s in spans if s["kind"] == "model"]
    assert [m["name"] for m in models] == ["chat gpt-4o-mini"] * 2
    price_in, price_cached, price_out = GPT_4O_MINI
    for m in models:
        cached = int(m["cache_read_tokens"] or 0)
        dollars = (
            (int(m["input_tokens"]) - cached) * price_in + cached * price_cached + int(m["output_tokens"]) * price_out
        )
        assert m["cost"] == pytest.approx(dollars / 1e6, rel=1e-9)
    (stats,) = [a for a in summary(tmp_path / "store.sqlite3").by_agent if a.name == "forecaster"]
    assert (stats.model_calls, stats.input_tokens) == (2, sum(int(m["input_tokens"]) for m in models))
    assert stats.cost_usd == pytest.approx(sum(float(m["cost"]) for m in models), rel=1e-9)
