"""``process_metrics=True``: the OTel system-metrics instrumentation's process metrics on our endpoint, the
same numbers in the store's heartbeat, and a clear start-up error without the package."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agentmetrics._config import ConfigError
from otel_agentmetrics.summary import store, summary
from otel_agentmetrics.summary.render import to_text

from .test_prometheus_server import free_port

PROGRAM = """
import json, sys, urllib.request
import otel_agentmetrics
from otel_agentmetrics.tools import tool

otel_agentmetrics.instrument(prometheus=int(sys.argv[1]), store=sys.argv[2], process_metrics=True, service_name="p")
tool(lambda: 1, name="noop")()  # one span, so the store gets its heartbeat
otel_agentmetrics.uninstrument()
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5) as response:
    print(json.dumps(response.read().decode()))
"""


def test_the_endpoint_and_the_store_show_the_process(tmp_path: Path) -> None:
    path = tmp_path / "spans.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(free_port()), str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    text = json.loads(done.stdout.splitlines()[-1])
    rss = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("process_memory_usage_bytes")]
    assert len(rss) == 1 and rss[0] > 10 * 2**20
    cpu = [line for line in text.splitlines() if line.startswith("process_cpu_time_seconds_total{")]
    assert len(cpu) == 2 and any('type="user"' in line for line in cpu)
    assert "process_thread_count" in text
    assert not [line for line in text.splitlines() if line.startswith("system_")]  # none of the host's metrics
    (process,) = summary(path).processes
    assert process.service == "p" and process.memory_bytes is not None and process.memory_bytes > 10 * 2**20
    assert process.cpu_seconds is not None and process.cpu_seconds > 0
    assert "Processes" in to_text(summary(path))


def test_a_store_from_before_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE writers (host TEXT NOT NULL, pid INTEGER NOT NULL, service TEXT, started_ns INTEGER NOT NULL,"
        " seen_ns INTEGER NOT NULL, active_calls INTEGER NOT NULL DEFAULT 0,"
        " dropped_spans INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (host, pid, started_ns));"
        "INSERT INTO writers VALUES ('h', 1, 's', 1, 2, 0, 0);"
    )
    old.commit()
    old.close()
    conn = store.connect(path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(writers)")]
        assert columns[-3:] == ["memory_bytes", "cpu_seconds", "export_dropped"]
        assert conn.execute("SELECT memory_bytes FROM writers").fetchone()[0] is None
    finally:
        conn.close()


def test_without_the_package_start_up_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_agentmetrics import process_metrics

    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.system_metrics", None)
    with pytest.raises(ConfigError, match=r"pip install 'otel-agentmetrics\[process\]'"):
        process_metrics.check_installed()


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_agentmetrics._config import resolve

    monkeypatch.delenv("AGENTMETRICS_PROCESS_METRICS", raising=False)
    assert resolve().process_metrics is False
    monkeypatch.setenv("AGENTMETRICS_PROCESS_METRICS", "true")
    assert resolve().process_metrics is True
