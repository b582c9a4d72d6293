"""``agentmetrics demo`` run the way the README says, in a fresh process: the real openai and anthropic clients
talk to the stand-in server (the providers' documented wire formats), our instrumentors record the calls, and the
report comes out of the store. Dollars are checked against the published per-million prices."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agentmetrics.summary import summary

# Published prices, USD per million tokens: (input, cached input, output).
PRICES = {
    "gpt-4o-mini-2024-07-18": (0.15, 0.075, 0.60),
    "claude-3-5-haiku-20241022": (0.80, 0.08, 4.00),
}


def _agentmetrics() -> list[str]:
    script = Path(sys.executable).with_name("agentmetrics")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from otel_agentmetrics.cli import main; sys.exit(main())"]


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    private = ("OTEL_", "AGENTMETRICS_", "OPENAI_", "ANTHROPIC_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(private)}
    clean.update({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "160"})
    clean.update(env or {})
    return subprocess.run([*_agentmetrics(), *args], capture_output=True, text=True, timeout=180, env=clean)


def test_demo_runs_offline_and_reports(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite3"
    result = _run(tmp_path, "demo", "--runs", "2", "--latency", "0.02", "--store", str(store))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "a local stand-in for the OpenAI and Anthropic APIs at http://127.0.0.1:" in out
    assert "tool get_weather -> Lisbon: 21°C and sunny" in out
    assert "tool book_hotel failed: no rooms left in Kyoto" in out
    assert "streaming: Day 1: the old town of Kyoto" in out
    assert "gpt-4o-mini-typo failed: NotFoundError" in out
    # Each answer is about the city asked of it.
    assert "fact-checker for Kyoto\n    claude-3-5-haiku-20241022: Yes: Kyoto in spring is mild" in out
    assert "trip-planner for Kyoto (POST /trips/Kyoto/plan)" in out
    # The report, then how to open the dashboard.
    for text in ("Agent metrics", "Models", "Tools", "Agents", "Recent errors", "trip-planner", "fact-checker"):
        assert text in out, text
    assert f"agentmetrics serve --store {store}" in out

    s = summary(store)
    assert (s.overall.calls, s.overall.failed) == (14, 2)
    assert s.models_used == ["claude-3-5-haiku-20241022", "gpt-4o-mini-2024-07-18", "gpt-4o-mini-typo"]
    assert {t.name: (t.calls, t.failed) for t in s.by_tool} == {
        "get_weather": (2, 0),
        "convert_currency": (2, 0),
        "book_hotel": (2, 2),
    }
    assert {a.name: (a.calls, a.model_calls) for a in s.by_agent} == {"trip-planner": (2, 10), "fact-checker": (2, 4)}
    # The trip planner runs behind a web route: the Endpoints table shows what each request spent.
    assert [(e.name, e.calls, e.failed, e.model_calls) for e in s.by_endpoint] == [("/trips/{city}/plan", 2, 0, 10)]
    assert s.by_endpoint[0].cost_usd == pytest.approx(s.by_agent[0].cost_usd) and s.by_endpoint[0].cost_usd > 0
    assert s.uptime_s is None  # the demo program has exited: nothing is writing now
    errors = [(e.kind, e.error_type) for e in s.recent_errors[:2]]
    assert errors == [("model", "NotFoundError"), ("tool", "RuntimeError")]

    # Every priced call costs what the published prices say for the tokens it reported.
    conn = sqlite3.connect(store)
    rows = conn.execute(
        "SELECT response_model, input_tokens, cache_read_tokens, output_tokens, cost, stream, provider "
        "FROM spans WHERE kind = 'model' AND ok = 1"
    ).fetchall()
    conn.close()
    assert len(rows) == 12
    assert sum(1 for r in rows if r[5]) == 2  # the streamed answers, which reported usage too
    expected: dict[str, float] = {}
    for model, input_tokens, cached, output_tokens, cost, _, _ in rows:
        price_in, price_cached, price_out = PRICES[model]
        cached = cached or 0
        dollars = ((input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out) / 1e6
        assert cost == pytest.approx(dollars, rel=1e-9), model
        expected[model] = expected.get(model, 0.0) + dollars
    by_model = {m.name: m.cost_usd for m in s.by_model}
    for model, dollars in expected.items():
        assert by_model[model] == pytest.approx(dollars, rel=1e-9)
    assert any(r[2] for r in rows if r[6] == "anthropic")  # cache reads reported by Anthropic are kept


def test_live_without_keys_says_what_to_set(tmp_path: Path) -> None:
    result = _run(tmp_path, "demo", "--live", "--store", str(tmp_path / "live.sqlite3"))
    assert result.returncode == 2
    assert "set OPENAI_API_KEY and/or ANTHROPIC_API_KEY" in result.stdout


def test_demo_also_exports_over_otlp_when_the_variables_ask(tmp_path: Path) -> None:
    """Issue 26: a user trying Phoenix or Jaeger sets OTEL_EXPORTER_OTLP_ENDPOINT and runs the demo."""
    from .otlp_receiver import http_receiver

    store = tmp_path / "demo.sqlite3"
    with http_receiver() as (endpoint, received):
        result = _run(
            tmp_path,
            "demo",
            "--runs",
            "1",
            "--latency",
            "0.01",
            "--store",
            str(store),
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "600000"},
        )
        names = [span.name for _, span in received.spans()]
        token_metrics = received.metrics("gen_ai.client.token.usage")
    assert result.returncode == 0, result.stderr
    assert f"Also exporting spans and metrics over OTLP to {endpoint}." in result.stdout
    assert summary(store).overall.calls == 7  # the store still gets everything
    assert names.count("chat gpt-4o-mini") >= 1 and "invoke_agent trip-planner" in names
    assert len([name for name in names if name.startswith(("chat ", "text_completion "))]) == 7
    assert token_metrics
