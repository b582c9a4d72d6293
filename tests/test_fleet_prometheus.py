"""The summary of a fleet from a real Prometheus server: three instrumented processes, one report.

Two workers on one host serve ``/metrics`` on ports they pick themselves (``prometheus="127.0.0.1:0"``) and
announce them through ``AGENTMETRICS_PROMETHEUS_SD_DIR`` (Prometheus's file-based discovery); a third process
has a fixed port, exits, and is started again on the same port (its counters restart from zero: a counter
reset). Every process also writes its own local store, which holds the truth: the fleet report's totals must
equal the sum of the three stores, exactly for counts and tokens, to 1e-9 for dollars, and no call of the
restarted process may count twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_agentmetrics.exporters.discovery import write_target
from otel_agentmetrics.summary import summary as store_summary
from otel_agentmetrics.summary.prometheus_source import PrometheusSource

from .llm_stand_in import serve_chat
from .test_dashboard import _FLAGS, _chromium
from .test_prometheus_server import PROMETHEUS, Prometheus, free_port, needs_prometheus

APP = Path(__file__).parent / "apps" / "chat_loop.py"
CALLS = ["plain", "stream", "missing", "unpriced", "agent"]
ROUNDS = {"worker-a": 3, "worker-b": 2, "fixed": 2, "fixed-again": 1}
"""Rounds per process life; the restarted process makes fewer calls than before, as after a real restart."""


class App:
    """One instrumented process: ``ready`` once instrumented, calls on ``go``, serves /metrics until closed."""

    def __init__(self, name: str, base_url: str, tmp: Path, prometheus: str, env: dict[str, str]) -> None:
        self.name, self.store = name, tmp / f"{name}.sqlite3"
        options = {
            "rounds": ROUNDS[name],
            "calls": CALLS,
            "wait_for_stdin": True,
            "instrument": {
                "prometheus": prometheus,
                "store": str(self.store),
                "service_name": f"svc-{name}",
                "process_metrics": True,
            },
        }
        self.process = subprocess.Popen(
            [sys.executable, str(APP), base_url, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == "ready", (line, self.process.stderr.read() if self.process.stderr else "")

    def go(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def wait_for_calls(self) -> None:
        assert self.process.stdout is not None
        json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # the program exits, flushing its store
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _calls_seen(prometheus: Prometheus) -> float:
    result = prometheus.query("sum(gen_ai_client_operation_duration_seconds_count)")
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fleet")
    targets = tmp / "targets"
    targets.mkdir()
    fixed_port, prometheus_port = free_port(), free_port()
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "workers",
                        "file_sd_configs": [{"files": [str(targets / "*.json")], "refresh_interval": "1s"}],
                    },
                    {"job_name": "fixed", "static_configs": [{"targets": [f"127.0.0.1:{fixed_port}"]}]},
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
    apps: list[App] = []
    prometheus = Prometheus(f"http://127.0.0.1:{prometheus_port}")
    try:
        with serve_chat() as base_url:
            workers_env = {**env, "AGENTMETRICS_PROMETHEUS_SD_DIR": str(targets)}
            # A fleet in the middle of a move to the latest GenAI names: worker-b emits only those, the restarted
            # process both (OTEL_SEMCONV_STABILITY_OPT_IN); the totals must still equal the stores'.
            apps.append(App("worker-a", base_url, tmp, "127.0.0.1:0", workers_env))
            latest_env = {**workers_env, "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
            apps.append(App("worker-b", base_url, tmp, "127.0.0.1:0", latest_env))
            apps.append(App("fixed", base_url, tmp, f"127.0.0.1:{fixed_port}", env))
            announced = sorted(p.name for p in targets.iterdir())
            assert len(announced) == 2, (announced, [a.process.poll() for a in apps])
            prometheus.wait_for("sum(up)", 3.0)
            for app in apps:
                app.go()
            for app in apps:
                app.wait_for_calls()
            first = sum(ROUNDS[a.name] for a in apps) * len(CALLS)  # one model call per kind, the agent's too
            prometheus.wait_for("sum(gen_ai_client_operation_duration_seconds_count)", float(first))
            apps[2].stop()  # the fixed-port process exits after its final scrape ...
            prometheus.wait_for('up{job="fixed"}', 0.0)
            both_env = {**env, "OTEL_SEMCONV_STABILITY_OPT_IN": "agentmetrics_gen_ai_dup"}
            again = App("fixed-again", base_url, tmp, f"127.0.0.1:{fixed_port}", both_env)  # ... and restarts there
            apps.append(again)
            prometheus.wait_for('up{job="fixed"}', 1.0)
            again.go()
            again.wait_for_calls()
            deadline = time.monotonic() + 15
            # The restarted process's counters are below the old ones: wait for the scrape that saw its calls.
            expected_live = first - (ROUNDS["fixed"] - ROUNDS["fixed-again"]) * len(CALLS)
            while _calls_seen(prometheus) != expected_live and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _calls_seen(prometheus) == expected_live
            prometheus.wait_for("count(process_memory_usage_bytes)", 3.0)  # the live ones' OTel process metrics
            live = PrometheusSource(prometheus.url).summary().processes
            for app in apps:
                app.stop()
            assert list(targets.glob("*.json")) == []  # the workers removed their discovery files on exit
            yield {"prometheus": prometheus, "apps": apps, "live": live}
    finally:
        for app in apps:
            app.stop()
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@needs_prometheus
def test_fleet_totals_equal_the_sum_of_the_processes(fleet: dict[str, Any]) -> None:
    from otel_agentmetrics.summary import Filters

    source = PrometheusSource(fleet["prometheus"].url)
    fleet_view = source.summary(Filters(since=300), by="service.name")
    stores = [store_summary(app.store).overall for app in fleet["apps"]]
    o = fleet_view.overall
    calls = sum(ROUNDS.values()) * len(CALLS)
    assert o.calls == sum(s.calls for s in stores) == calls
    assert o.failed == sum(s.failed for s in stores) == sum(ROUNDS.values())  # the missing model's 404
    assert o.input_tokens == sum(s.input_tokens for s in stores)
    assert o.output_tokens == sum(s.output_tokens for s in stores)
    assert o.input_tokens > 0 and o.output_tokens > 0
    assert o.cost_usd == pytest.approx(sum(s.cost_usd for s in stores), abs=1e-9)
    assert o.cost_usd > 0
    assert o.unpriced_calls == sum(s.unpriced_calls for s in stores) == sum(ROUNDS.values())
    by_model = {m.name: m.calls for m in fleet_view.by_model}
    assert by_model == {
        "gpt-4o-mini": 2 * sum(ROUNDS.values()),
        "gpt-4": sum(ROUNDS.values()),
        "local-llama": sum(ROUNDS.values()),
        "this-model-does-not-exist": sum(ROUNDS.values()),
    }
    # Per process, from each target's service.name (target_info): the restarted one counts both lives once.
    per_service = {s.name: s.calls for s in fleet_view.by_instance}
    assert per_service == {
        "svc-worker-a": 3 * len(CALLS),
        "svc-worker-b": 2 * len(CALLS),
        "svc-fixed-again": (2 + 1) * len(CALLS),  # one address, one series: named after the process there now
    }
    assert [(t.name, t.calls, t.failed) for t in fleet_view.by_tool] == [
        ("flaky", sum(ROUNDS.values()), sum(ROUNDS.values())),
        ("lookup", sum(ROUNDS.values()), 0),
    ]
    (triage,) = fleet_view.by_agent
    assert (triage.name, triage.calls, triage.model_calls) == ("triage", sum(ROUNDS.values()), sum(ROUNDS.values()))
    assert fleet_view.recent_runs == [] and "recent_runs" in fleet_view.absent and "error_messages" in fleet_view.absent


@needs_prometheus
def test_each_live_process_reports_its_memory_and_cpu(fleet: dict[str, Any]) -> None:
    live = fleet["live"]
    assert sorted(p.service for p in live) == ["svc-fixed-again", "svc-worker-a", "svc-worker-b"]
    for p in live:
        assert p.memory_bytes is not None and 20 * 2**20 < p.memory_bytes < 2 * 2**30  # a Python with openai
        assert p.cpu_seconds is not None and p.cpu_seconds > 0
        assert p.uptime_s is not None and 0 < p.uptime_s < 120
    # Each process's store heartbeat carries the same two numbers.
    for app in fleet["apps"]:
        (process,) = store_summary(app.store).processes
        assert process.memory_bytes is not None and process.memory_bytes > 20 * 2**20
        assert process.service == f"svc-{app.name}"


@needs_prometheus
def test_percentiles_match_prometheus_histogram_quantile(fleet: dict[str, Any]) -> None:
    from otel_agentmetrics.summary import Filters, promql

    source = PrometheusSource(fleet["prometheus"].url)
    s = source.summary(Filters(since=300))
    expr = promql.quantile(0.95, "gen_ai_client_operation_duration_seconds_bucket", 300, source.step_s())
    (row,) = fleet["prometheus"].query(expr)
    assert s.overall.p95_s == pytest.approx(float(row["value"][1]), rel=1e-9)


def _agentmetrics(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMETRICS_")}
    run = "import sys; from otel_agentmetrics.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", run, *args], capture_output=True, text=True, env=env, timeout=60)


@needs_prometheus
def test_the_commands_read_the_fleet(fleet: dict[str, Any]) -> None:
    url = fleet["prometheus"].url
    exported = _agentmetrics("export", "--prometheus", url, "--since", "5m", "--by", "host")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    stores = [store_summary(app.store).overall for app in fleet["apps"]]
    assert data["source"] == "prometheus" and data["store"] == url
    assert data["overall"]["calls"] == sum(s.calls for s in stores)
    assert data["overall"]["input_tokens"] == sum(s.input_tokens for s in stores)
    assert data["overall"]["cost_usd"] == pytest.approx(sum(s.cost_usd for s in stores), abs=1e-9)
    assert [(g["name"], g["calls"]) for g in data["by_instance"]] == [("127.0.0.1", data["overall"]["calls"])]
    assert data["recent_runs"] == [] and "recent_runs" in data["absent"]

    report = _agentmetrics("report", "--prometheus", url, "--since", "5m")
    assert report.returncode == 0, report.stderr
    assert "not in Prometheus" in report.stdout and f"Prometheus {url}" in report.stdout

    # Every model call to the missing model failed: 20% of calls, over the 10% default.
    alerts = _agentmetrics("alerts", "--prometheus", url, "--window", "5m")
    assert alerts.returncode == 4 and "error_rate" in alerts.stdout, alerts.stdout + alerts.stderr

    down = _agentmetrics("report", "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 2 and "cannot reach Prometheus" in down.stderr


@needs_prometheus
def test_the_dashboard_serves_the_fleet(fleet: dict[str, Any]) -> None:
    from otel_agentmetrics.summary import make_server

    from .test_dashboard import _get

    srv = make_server("127.0.0.1", 0, refresh_s=0, source=PrometheusSource(fleet["prometheus"].url))
    srv.start_in_thread()
    try:
        status, _, body = _get(srv.url + "api/summary?since=5m&by=service.instance.id")
        data = json.loads(body)
        calls = sum(ROUNDS.values()) * len(CALLS)
        assert status == 200 and data["overall"]["calls"] == calls
        assert len(data["by_instance"]) == 3  # one row per process alive at the end (the restarted one once)
        status, _, body = _get(srv.url + "api/timeseries?since=5m")
        points = json.loads(body)
        assert status == 200 and len(points) == 6
        assert sum(p["calls"] for p in points) == calls
        assert sum(p["cost_usd"] for p in points) == pytest.approx(data["overall"]["cost_usd"], abs=1e-9)
        status, kind, page = _get(srv.url + "?since=5m")
        assert (status, kind) == (200, "text/html; charset=utf-8") and '"source": "prometheus"' in page
        status, _, body = _get(srv.url + "api/runs/" + "0" * 32)
        assert status == 404 and "Prometheus keeps metrics only" in json.loads(body)["error"]
        status, _, body = _get(srv.url + "health")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"  # a fifth of the calls failed
    finally:
        srv.shutdown()
        srv.server_close()


@needs_prometheus
def test_uvicorn_workers_on_ports_of_their_own(tmp_path: Path) -> None:
    """``uvicorn --workers 2``: each worker announces its own /metrics port; one Prometheus scrapes both through
    file-based discovery, and the fleet view counts every request's model call once."""
    targets = tmp_path / "targets"
    targets.mkdir()
    prometheus_port, app_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "workers",
                        "file_sd_configs": [{"files": [str(targets / "*.json")], "refresh_interval": "1s"}],
                    }
                ],
            }
        )
    )
    server = subprocess.Popen(
        [
            PROMETHEUS,  # type: ignore[list-item]
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prometheus = Prometheus(f"http://127.0.0.1:{prometheus_port}")
    requests = 12
    try:
        with serve_chat() as base_url:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
            env |= {"AGENTMETRICS_PROMETHEUS_SD_DIR": str(targets), "STAND_IN_URL": base_url}
            workers = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "worker_app:app", "--workers", "2", "--port", str(app_port),
                 "--host", "127.0.0.1", "--log-level", "warning", "--app-dir", str(APP.parent)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            try:
                prometheus.wait_for("sum(up)", 2.0)  # two workers, two targets, found through their files
                assert len(list(targets.glob("*.json"))) == 2
                for _ in range(requests):
                    with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/chat", timeout=10) as response:
                        assert response.read().startswith(b"ok ")
                prometheus.wait_for("sum(gen_ai_client_operation_duration_seconds_count)", float(requests))
                from otel_agentmetrics.summary import Filters

                fleet_view = PrometheusSource(prometheus.url).summary(Filters(since=300), by="service.instance.id")
                assert fleet_view.overall.calls == requests and fleet_view.overall.failed == 0
                assert sum(i.calls for i in fleet_view.by_instance) == requests
                assert 1 <= len(fleet_view.by_instance) <= 2  # the kernel spreads requests over the workers
            finally:
                workers.terminate()
                workers.wait(timeout=20)
            # uvicorn ends its workers by re-raising SIGTERM, so no exit handler removed their files; the next
            # process to announce itself there sweeps the files of processes that are gone.
            assert len(list(targets.glob("*.json"))) == 2
            mine = write_target(targets, "127.0.0.1", 9)
            assert list(targets.glob("*.json")) == [mine]
            mine.unlink()
    finally:
        server.terminate()
        server.wait(timeout=10)


@needs_prometheus
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (tests/system-deps.sh installs it)")
def test_a_browser_shows_the_fleet_dashboard(fleet: dict[str, Any], tmp_path: Path) -> None:
    from otel_agentmetrics.summary import make_server

    browser = _chromium()
    assert browser is not None
    srv = make_server("127.0.0.1", 0, refresh_s=0, source=PrometheusSource(fleet["prometheus"].url))
    srv.start_in_thread()
    try:
        shown = subprocess.run(
            [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--dump-dom", srv.url + "?since=5m&by=service.name"],
            capture_output=True,
            text=True,
            timeout=90,
        )  # fmt: skip
    finally:
        srv.shutdown()
        srv.server_close()
    dom = shown.stdout.split("<script>")[0]
    calls = sum(ROUNDS.values()) * len(CALLS)
    assert f'<div class="label">Model calls</div><div class="value">{calls}</div>' in dom
    assert "<h2>By service.name</h2>" in dom and "<td>svc-worker-a</td>" in dom
    runs = dom[dom.index('<section id="runs">') :].split("</section>")[0]
    assert "Not in Prometheus" in runs  # absent, not an empty table that reads as "no runs"
    assert [line for line in shown.stderr.splitlines() if ":CONSOLE" in line] == []
