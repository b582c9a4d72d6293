"""The summary API over a known set of spans: every number checked against a hand computation."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from otel_agentmetrics.summary import Filters, Thresholds, render, summary, timeseries
from otel_agentmetrics.summary.queries import run_detail

from .summary_kit import NOW, SpanMaker

GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three traces: two web requests to /chat with a ``support`` agent run each, and a ``research`` run with a
    nested ``support`` run; plus one call two hours ago."""
    path = tmp_path / "spans.sqlite3"
    m = SpanMaker(path)
    with m.request("/chat", at=100, duration=20), m.agent("support", at=99, duration=15):
        m.model(GPT, at=98, duration=0.5, input_tokens=100, output_tokens=20, cached=40, cost=0.001)
        m.tool("lookup", at=97, duration=0.2)
        m.model(CLAUDE, provider="anthropic", at=96, duration=1.5, input_tokens=200, output_tokens=50, cost=0.002)
    with m.request("/chat", at=60, duration=10, status=500), m.agent("support", at=59, duration=5):
        m.model(GPT, at=58, duration=1.0, error=("RateLimitError", "Error code: 429 - rate limited"))
        m.tool("lookup", at=57, duration=0.1, error=("ValueError", "bad id"))
    with m.agent("research", at=40, duration=10):
        m.model(GPT, at=39, duration=2.0, input_tokens=300, output_tokens=100, cost=0.003)
        with m.agent("support", at=35, duration=3):
            m.model(CLAUDE, provider="anthropic", at=34, duration=0.5, input_tokens=50, output_tokens=10, cost=0.0005)
    m.model(GPT, at=7200, duration=0.3, input_tokens=10, output_tokens=5, cost=0.0001)
    m.close()
    return path


def test_overall_numbers(store: Path) -> None:
    s = summary(store, now=NOW)
    o = s.overall
    assert (o.calls, o.successful, o.failed) == (6, 5, 1)
    assert o.success_rate == pytest.approx(5 / 6)
    # Durations sorted: 0.3 0.5 0.5 1.0 1.5 2.0; percentiles interpolate between closest ranks.
    assert o.avg_s == pytest.approx(5.8 / 6)
    assert o.p50_s == pytest.approx(0.75)
    assert o.p95_s == pytest.approx(1.875)
    assert o.p99_s == pytest.approx(1.975)
    assert (o.input_tokens, o.output_tokens, o.cached_tokens) == (660, 185, 40)
    assert o.cost_usd == pytest.approx(0.0066)
    assert s.models_used == [CLAUDE, GPT]


def test_per_model_and_provider(store: Path) -> None:
    s = summary(store, now=NOW)
    by_model = {m.name: m for m in s.by_model}
    gpt = by_model[GPT]
    assert (gpt.calls, gpt.failed) == (4, 1)
    assert gpt.p50_s == pytest.approx(0.75)  # 0.3 0.5 1.0 2.0
    assert gpt.p95_s == pytest.approx(1.85)
    assert gpt.cost_usd == pytest.approx(0.0041)
    assert by_model[CLAUDE].calls == 2
    assert by_model[CLAUDE].input_tokens == 250
    assert [p.name for p in s.by_provider] == ["openai", "anthropic"]  # by cost, highest first
    assert {p.name: p.calls for p in s.by_provider} == {"openai": 4, "anthropic": 2}


def test_per_tool_agent_and_endpoint(store: Path) -> None:
    s = summary(store, now=NOW)
    (lookup,) = s.by_tool
    assert (lookup.name, lookup.calls, lookup.failed) == ("lookup", 2, 1)
    agents = {a.name: a for a in s.by_agent}
    support = agents["support"]
    # Three support runs; a nested run's calls count in it and in the enclosing research run.
    assert (support.calls, support.model_calls, support.input_tokens, support.output_tokens) == (3, 4, 350, 80)
    assert support.cost_usd == pytest.approx(0.0035)
    research = agents["research"]
    assert (research.calls, research.model_calls, research.input_tokens) == (1, 2, 350)
    assert research.cost_usd == pytest.approx(0.0035)
    (chat,) = s.by_endpoint
    assert (chat.name, chat.calls, chat.failed, chat.model_calls) == ("/chat", 2, 1, 3)
    assert chat.p50_s == pytest.approx(15.0)
    assert chat.cost_usd == pytest.approx(0.003)


def test_recent_runs_and_errors(store: Path) -> None:
    s = summary(store, now=NOW)
    assert [(r.kind, r.name) for r in s.recent_runs] == [
        ("agent", "research"),
        ("agent", "support"),
        ("request", "/chat"),
        ("agent", "support"),
        ("request", "/chat"),
        ("agent", "support"),
    ]
    research = s.recent_runs[0]
    assert (research.model_calls, research.tool_calls, research.input_tokens + research.output_tokens) == (2, 0, 460)
    failed_request = s.recent_runs[2]
    assert (failed_request.ok, failed_request.error_type, failed_request.model_calls) == (False, "500", 1)
    assert [(e.kind, e.name, e.error_type, e.message) for e in s.recent_errors] == [
        ("request", "/chat", "500", None),
        ("tool", "lookup", "ValueError", "bad id"),
        ("model", GPT, "RateLimitError", "Error code: 429 - rate limited"),
    ]


def test_errors_by_type_and_run_detail(store: Path) -> None:
    s = summary(store, now=NOW)
    assert [(g.error_type, g.kind, g.name, g.count) for g in s.error_types] == [
        ("500", "request", "/chat", 1),
        ("ValueError", "tool", "lookup", 1),
        ("RateLimitError", "model", GPT, 1),
    ]
    failed_request = s.recent_runs[2]
    detail = run_detail(store, failed_request.trace_id)
    assert [span["kind"] for span in detail["spans"]] == ["request", "agent", "model", "tool"]
    assert (detail["model_calls"], detail["tool_calls"], detail["failed"]) == (1, 1, 3)
    assert detail["duration_s"] == pytest.approx(10.0)
    with pytest.raises(LookupError, match="no run with trace id"):
        run_detail(store, "0" * 32)


def test_filters(store: Path) -> None:
    hour = summary(store, Filters(since=3600), now=NOW)
    assert hour.overall.calls == 5
    assert hour.filters == {"since_s": "3600"}
    claude = summary(store, Filters(model=CLAUDE), now=NOW)
    assert (claude.overall.calls, claude.overall.input_tokens) == (2, 250)
    research = summary(store, Filters(agent="research"), now=NOW)
    assert research.overall.calls == 2
    assert [a.name for a in research.by_agent] == ["research"]
    assert research.by_endpoint == []
    assert summary(store, Filters(provider="anthropic"), now=NOW).overall.calls == 2
    assert summary(store, Filters(service="other"), now=NOW).overall.calls == 0


def test_health_and_alerts(store: Path) -> None:
    # Default: 1 of the 5 calls in the last 15 minutes failed: 20% is twice the 10% threshold.
    s = summary(store, now=NOW)
    assert s.health.status == "unhealthy"
    assert [(a.name, a.severity) for a in s.health.alerts] == [("error_rate", "critical")]
    assert s.health.alerts[0].value == pytest.approx(0.2)

    quiet = Thresholds(error_rate=0.25, p95_latency_s=None)
    assert summary(store, thresholds=quiet, now=NOW).health.status == "healthy"

    slow = Thresholds(error_rate=0.25, p95_latency_s=1.0)  # p95 of 0.5 0.5 1.0 1.5 2.0 is 1.9
    health = summary(store, thresholds=slow, now=NOW).health
    assert health.status == "degraded"
    assert [(a.name, a.severity, round(a.value, 6)) for a in health.alerts] == [("latency", "warning", 1.9)]

    over = Thresholds(error_rate=None, p95_latency_s=None, budget_usd=0.005, budget_window_s=3600)
    alert = summary(store, thresholds=over, now=NOW).health.alerts[0]
    assert (alert.name, alert.severity, round(alert.value, 6)) == ("budget", "critical", 0.0065)
    near = Thresholds(error_rate=None, p95_latency_s=None, budget_usd=0.008, budget_window_s=3600)
    assert summary(store, thresholds=near, now=NOW).health.status == "degraded"
    day = Thresholds(error_rate=None, p95_latency_s=None, budget_usd=0.0066, budget_window_s=86400)
    assert summary(store, thresholds=day, now=NOW).health.alerts[0].value == pytest.approx(0.0066)

    failures = Thresholds(error_rate=None, p95_latency_s=None, max_failures=0)
    assert summary(store, thresholds=failures, now=NOW).health.alerts[0].name == "failures"


def test_thresholds_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMETRICS_ALERT_ERROR_RATE", "5%")
    monkeypatch.setenv("AGENTMETRICS_ALERT_P95_LATENCY", "off")
    monkeypatch.setenv("AGENTMETRICS_ALERT_BUDGET", "25")
    monkeypatch.setenv("AGENTMETRICS_ALERT_BUDGET_WINDOW", "7d")
    t = Thresholds.from_env()
    assert (t.error_rate, t.p95_latency_s, t.budget_usd, t.budget_window_s) == (0.05, None, 25.0, 604800.0)
    monkeypatch.setenv("AGENTMETRICS_ALERT_BUDGET", "lots")
    with pytest.raises(ValueError, match="AGENTMETRICS_ALERT_BUDGET"):
        Thresholds.from_env()


def test_time_series_per_minute(store: Path) -> None:
    points = timeseries(store, Filters(since=600), bucket="minute", now=NOW)
    assert len(points) == 11 and points[0].t == NOW - 600 and points[-1].t == NOW
    busy = {p.t: p for p in points if p.calls}
    assert sorted(busy) == [NOW - 120, NOW - 60]
    assert (busy[NOW - 120].calls, busy[NOW - 120].failed) == (2, 0)
    assert busy[NOW - 120].cost_usd == pytest.approx(0.003)
    assert (busy[NOW - 60].calls, busy[NOW - 60].failed) == (3, 1)
    assert busy[NOW - 60].avg_s == pytest.approx((1.0 + 2.0 + 0.5) / 3)
    hours = timeseries(store, Filters(since=3 * 3600), bucket="hour", now=NOW)
    assert sum(p.calls for p in hours) == 6
    with pytest.raises(ValueError, match="bucket"):
        timeseries(store, bucket="day", now=NOW)


def test_missing_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run an instrumented program first"):
        summary(tmp_path / "nothing.sqlite3")


def test_exports(store: Path) -> None:
    s = summary(store, now=NOW)
    data = json.loads(render.to_json(s))
    assert data["overall"]["calls"] == 6 and data["overall"]["total_tokens"] == 845
    assert data["health"]["status"] == "unhealthy"

    rows = list(csv.DictReader(io.StringIO(render.to_csv(s))))
    by_key = {(r["group"], r["name"]): r for r in rows}
    assert by_key[("overall", "all")]["calls"] == "6"
    assert float(by_key[("model", GPT)]["cost_usd"]) == pytest.approx(0.0041)
    assert by_key[("tool", "lookup")]["failed"] == "1"
    assert by_key[("endpoint", "/chat")]["model_calls"] == "3"

    md = render.to_markdown(s)
    assert "## Models" in md and f"| {GPT} | 4 | 3 | 1 | 75.0% |" in md
    assert "| request /chat | 500 |" in md.replace("  ", " ")
    assert "## Alerts" in md and "critical" in md

    text = render.to_text(s)
    assert "Overview" in text and "UNHEALTHY" in text and "lookup" in text


def test_prometheus_text(store: Path) -> None:
    text = render.to_prometheus(summary(store, now=NOW))
    lines = set(text.splitlines())
    assert 'agentmetrics_health{status="unhealthy"} 1' in lines
    assert f'agentmetrics_model_calls_total{{model="{GPT}",outcome="error"}} 1' in lines
    assert f'agentmetrics_tokens_total{{model="{CLAUDE}",type="input"}} 250' in lines
    assert "# TYPE agentmetrics_cost_usd_total counter" in lines
    assert 'agentmetrics_tool_runs_total{tool="lookup",outcome="ok"} 1' in lines
    assert 'agentmetrics_agent_runs_total{agent="support",outcome="ok"} 3' in lines
