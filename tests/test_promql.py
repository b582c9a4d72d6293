"""The PromQL the fleet view sends, and its Python twin of ``histogram_quantile`` (checked against a real
Prometheus in test_fleet_prometheus.py); the store's answer to a grouping only Prometheus knows."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_agentmetrics.cli import main
from otel_agentmetrics.summary import promql
from otel_agentmetrics.summary.prometheus_source import Prometheus, PrometheusSource
from otel_agentmetrics.summary.source import StoreSource, open_source

from .summary_kit import SpanMaker

INF = float("inf")


def test_durations_and_selectors() -> None:
    assert [promql.duration(s) for s in (1, 15, 0.5, 86400, 2.25)] == ["1s", "15s", "500ms", "86400s", "2250ms"]
    assert promql.selector("m") == "m"
    assert promql.selector("m", {"b": 'say "hi"\\', "a": "x"}, 'e!=""') == 'm{a="x", b="say \\"hi\\"\\\\", e!=""}'
    assert promql.label("service.instance.id") == "service_instance_id"


def test_increase_is_a_sum_of_steps_with_resets_counted_once() -> None:
    expr = promql.increase("c", 300, 15)
    assert expr == ("sum_over_time(((c - last_over_time(c[300s] offset 15s)) >= 0 or (c + 0))[300s:15s])")
    # The lookback is Prometheus's staleness window whatever the scrape interval (issue 26: at 1 s it was 20 s, and
    # a series whose scrapes failed for longer was counted whole again at every step of the gap).
    assert "[300s] offset 1s" in promql.increase("c", 60, 1)
    assert promql.quantile(0.95, "h_bucket", 60, 1, ("model",)).startswith(
        "histogram_quantile(0.95, sum by (le, model)"
    )


def test_bucket_quantile_is_prometheus_histogram_quantile() -> None:
    buckets = {0.1: 2.0, 0.5: 6.0, 1.0: 9.0, INF: 10.0}
    assert promql.bucket_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (5 - 2) / 4)
    assert promql.bucket_quantile(0.95, buckets) == 1.0  # in the +Inf bucket: the highest finite bound
    assert promql.bucket_quantile(0.1, buckets) == pytest.approx(0.1 * 1 / 2)
    assert promql.bucket_quantile(0.5, {0.1: 0.0, INF: 0.0}) is None
    assert promql.bucket_quantile(0.5, {0.1: 3.0}) is None  # no +Inf bucket: not a histogram
    assert promql.bucket_quantile(0.5, {0.1: 4.0, 0.5: 3.0, INF: 4.0}) == pytest.approx(0.05)  # made monotonic


def test_which_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTMETRICS_PROMETHEUS_URL", raising=False)
    assert isinstance(open_source(), StoreSource)
    monkeypatch.setenv("AGENTMETRICS_PROMETHEUS_URL", "http://prom:9090/")
    source = open_source()
    assert isinstance(source, PrometheusSource) and source.location == "http://prom:9090"
    assert isinstance(open_source(store=tmp_path / "s.sqlite3"), StoreSource)  # an explicit store wins
    assert Prometheus("prom:9090").url == "http://prom:9090"
    with pytest.raises(ValueError, match="not a server URL"):
        Prometheus("ftp://prom")


def test_the_store_groups_by_service_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spans.sqlite3"
    m = SpanMaker(path, service="checkout")
    m.model("gpt-4o-mini", at=10, duration=1, input_tokens=3, output_tokens=2, cost=0.001)
    m.close()
    assert main(["export", "--store", str(path), "--by", "service.name"]) == 0
    assert '"instance_label": "service.name"' in capsys.readouterr().out
    assert main(["report", "--store", str(path), "--by", "host"]) == 2
    assert "groups by service.name only" in capsys.readouterr().err
