"""The operations kit against a real Prometheus server scraping a real instrumented program.

``examples/stack``'s rules pass ``promtool check rules``; then a Prometheus server (the Debian ``prometheus``
package, installed by ``tests/system-deps.sh``) scrapes ``instrument(prometheus=...)`` of ``tests/apps/chat_loop.py``
(the real openai client against a loopback stand-in answering with recorded responses; agents and tools
through ``otel_agentmetrics.agent``/``tool``; traces sent to a collector that is down, so drops are counted),
evaluates the rules, and answers every query of the Grafana dashboard and of the rules with data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .llm_stand_in import serve_chat

ROOT = Path(__file__).parent.parent
STACK = ROOT / "examples" / "stack"
RULES = STACK / "prometheus" / "agentmetrics-rules.yml"
DASHBOARD = STACK / "grafana" / "dashboards" / "agentmetrics.json"
APP = Path(__file__).parent / "apps" / "chat_loop.py"
ROUNDS = 12
CALLS = ["plain", "stream", "missing", "unpriced", "agent", "retrieve", "mcp"]
MODEL_CALLS = len(CALLS) - 2  # each kind makes one model call but "retrieve" (a FAISS search) and "mcp" (tools)

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="prometheus/promtool not installed: run tests/system-deps.sh as root (Debian package `prometheus`)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@needs_prometheus
def test_rules_and_config_pass_promtool() -> None:
    rules = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)  # type: ignore[list-item]
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 21 rules found" in rules.stdout
    config = subprocess.run(
        [PROMTOOL, "check", "config", str(STACK / "prometheus" / "prometheus.yml")],  # type: ignore[list-item]
        capture_output=True,
        text=True,
    )
    assert config.returncode == 0, config.stdout + config.stderr


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target, with Grafana's variables filled in as it would."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in (("$__rate_interval", "30s"), ("$__range", "1h"), ("$provider", ".*"), ("$model", ".*")):
                expr = expr.replace(name, value)
            assert "$" not in expr, expr
            out.append((panel["title"], expr))
    return out


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def as_bool_comparison(expr: str) -> str:
    """``a > b`` -> ``a > bool b``: the alert's expression, returning 0/1 instead of only the firing series."""
    return re.sub(r"\s(>|<|>=|<=|==|!=)\s(?!bool)", r" \1 bool ", expr, count=1)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def wait_for(self, expr: str, expected: float, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            try:
                result = self.query(expr)
            except OSError:  # still starting
                time.sleep(0.25)
                continue
            seen = result and float(result[0]["value"][1])
            if seen == expected:
                return
            time.sleep(0.25)
        raise AssertionError(f"{expr} = {seen}, expected {expected}")


@pytest.fixture(scope="module", params=[None, "gen_ai_latest_experimental"], ids=["v1.41.1-names", "latest-names"])
def scraped(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Prometheus]:
    """A program that has made its calls and still serves /metrics, and a Prometheus that scraped it; with the
    default names, then with the latest (OTEL_SEMCONV_STABILITY_OPT_IN): the dashboard and rules read both."""
    tmp = tmp_path_factory.mktemp("prometheus")
    app_port, prometheus_port = free_port(), free_port()
    # The budgets set to zero, so the spend alerts fire on the test's few cents.
    test_rules = (
        RULES.read_text().replace("expr: vector(10)", "expr: vector(0)").replace("expr: vector(100)", "expr: vector(0)")
    )
    (tmp / "rules.yml").write_text(test_rules)
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp / "rules.yml")],
                "scrape_configs": [
                    {"job_name": "agent-app", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}
                ],
            }
        )
    )
    server = subprocess.Popen(
        [
            PROMETHEUS,  # type: ignore[list-item]
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env |= {
        "OTEL_TRACES_EXPORTER": "otlp",  # to a collector that is down, with a tiny queue: drops to count
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_BSP_MAX_QUEUE_SIZE": "4",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2",
        "AGENTMETRICS_SHUTDOWN_TIMEOUT": "1",
    }
    if request.param is not None:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = request.param
    options = {
        "rounds": ROUNDS,
        "interval": 0.25,
        "calls": CALLS,
        "wait_for_stdin": True,
        "evaluate": True,
        "instrument": {"prometheus": f"127.0.0.1:{app_port}", "store": False},
    }
    with serve_chat() as base_url:
        app = subprocess.Popen(
            [sys.executable, str(APP), base_url, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            prometheus = Prometheus(f"http://127.0.0.1:{prometheus_port}")
            assert app.stdout is not None and app.stdin is not None
            assert app.stdout.readline().strip() == "ready"
            # Calls start only after Prometheus has scraped the idle program: rates then see every increase.
            prometheus.wait_for('up{job="agent-app"}', 1.0)
            app.stdin.write("go\n")
            app.stdin.flush()
            json.loads(app.stdout.readline())  # every call made
            # Wait for the scrape that saw the last call.
            prometheus.wait_for("sum(gen_ai_client_operation_duration_seconds_count)", float(ROUNDS * MODEL_CALLS))
            time.sleep(2.5)  # a few rule evaluations on the final numbers
            yield prometheus
        finally:
            for process in (app, server):
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@needs_prometheus
def test_scraped_numbers_are_the_calls_made(scraped: Prometheus) -> None:
    by_model = {
        row["metric"]["gen_ai_request_model"]: float(row["value"][1])
        for row in scraped.query("sum by (gen_ai_request_model) (gen_ai_client_operation_duration_seconds_count)")
    }
    # An agent run makes one gpt-4o-mini call besides the plain one.
    assert by_model == {
        "gpt-4o-mini": 2 * ROUNDS,
        "gpt-4": ROUNDS,
        "this-model-does-not-exist": ROUNDS,
        "local-llama": ROUNDS,
    }
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens; 12 in and 5 out per call.
    spend = scraped.value('sum(gen_ai_usage_cost_USD_sum{gen_ai_request_model="gpt-4o-mini"})')
    assert spend == pytest.approx(2 * ROUNDS * (12 * 0.15 + 5 * 0.60) / 1e6, rel=1e-9)
    assert scraped.value('sum(agentmetrics_calls_unpriced_total{gen_ai_request_model="local-llama"})') == ROUNDS
    evaluations = (
        'agentmetrics_evaluation_score_{}{{gen_ai_evaluation_name="relevance", gen_ai_request_model="gpt-4o-mini"}}'
    )
    assert scraped.value(f"sum({evaluations.format('count')})") == ROUNDS  # one verdict per agent run
    assert scraped.value(f"sum({evaluations.format('sum')})") == 0.75 * ROUNDS
    assert scraped.value('sum(agentmetrics_tool_duration_seconds_count{error_type="TimeoutError"})') == ROUNDS
    assert scraped.value('sum(agentmetrics_agent_duration_seconds_count{gen_ai_agent_name="triage"})') == ROUNDS
    failed_reranks = (
        "sum(agentmetrics_operation_duration_seconds_count"
        '{agentmetrics_operation_name="rerank", error_type="LookupError"})'
    )
    assert scraped.value(failed_reranks) == ROUNDS
    assert scraped.value('sum(agentmetrics_export_dropped_total{agentmetrics_export_signal="traces"})') > 0
    retrievals = 'sum by (error_type) (db_client_operation_duration_seconds_count{gen_ai_operation_name="retrieval"})'
    assert {row["metric"].get("error_type", ""): float(row["value"][1]) for row in scraped.query(retrievals)} == {
        "": ROUNDS,
        "AssertionError": ROUNDS,
    }


@needs_prometheus
def test_every_dashboard_query_returns_data(scraped: Prometheus) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    empty = [(title, expr) for title, expr in queries if not scraped.query(expr)]
    assert empty == []
    dashboard = json.loads(DASHBOARD.read_text())
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable
        series = match.group(1).replace("$provider", ".*")
        answer = get_json(
            f"{scraped.url}/api/v1/label/{match.group(2)}/values?{urllib.parse.urlencode({'match[]': series})}"
        )
        assert answer["data"], variable["name"]


@needs_prometheus
def test_every_rule_returns_data_and_the_alerts_fire(scraped: Prometheus) -> None:
    empty = []
    for rule in rules():
        if "record" in rule:
            if not scraped.query(rule["record"]):  # evaluated by Prometheus itself
                empty.append(rule["record"])
        elif not scraped.query(as_bool_comparison(rule["expr"])):
            empty.append(rule["alert"])
    assert empty == []
    ratio = scraped.query("gen_ai_provider_model:error_ratio:rate5m")
    assert {row["metric"]["gen_ai_request_model"]: float(row["value"][1]) for row in ratio}[
        "this-model-does-not-exist"
    ] == 1.0
    alerts = get_json(f"{scraped.url}/api/v1/alerts")["data"]["alerts"]
    states = {(a["labels"]["alertname"], a["labels"].get("gen_ai_request_model")): a["state"] for a in alerts}
    assert states[("GenAIUnpricedModel", "local-llama")] == "firing"
    assert states[("GenAISpendPerHourOverBudget", None)] == "firing"
    assert states[("GenAISpendPerDayOverBudget", None)] == "firing"
    assert states[("GenAIHighErrorRate", "this-model-does-not-exist")] == "pending"  # `for: 10m`
    assert ("AgentMetricsTelemetryDropped", None) in states
    assert states[("RetrievalHighErrorRate", None)] == "pending"  # half of the FAISS searches fail; `for: 10m`


def test_dashboard_is_well_formed() -> None:
    """What Grafana needs to import it: unique ids, every query on the data-source variable, no overlapping panels."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "provider", "model"}


@needs_prometheus
def test_fleet_view_has_the_retrieval_table(scraped: Prometheus) -> None:
    from otel_agentmetrics.summary.prometheus_source import PrometheusSource

    s = PrometheusSource(scraped.url).summary()
    faiss, write = s.by_retrieval  # the searches, then the index.add of each round
    assert (faiss.operation, faiss.store, faiss.collection) == ("retrieval", "faiss", None)
    assert (write.operation, write.calls, write.rows) == ("add_documents", ROUNDS, 4 * ROUNDS)
    assert (faiss.calls, faiss.failed, faiss.rows) == (2 * ROUNDS, ROUNDS, 2 * ROUNDS)  # 2 rows per good search
    assert faiss.p95_s is not None and faiss.p95_s < 1.0
