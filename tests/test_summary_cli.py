"""``agentmetrics report | export | alerts | live`` on a store of known spans."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_agentmetrics.cli import main

from .summary_kit import SpanMaker


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Six recent calls (two models, one failure) in two agents; real clock, as the CLI reads 'now'."""
    path = tmp_path / "s.sqlite3"
    m = SpanMaker(path)
    from . import summary_kit

    shift = time.time() - summary_kit.NOW
    ago = lambda seconds: seconds - shift  # noqa: E731
    with m.agent("triage", at=ago(200), duration=30):
        for i in range(4):
            m.model("gpt-4o-mini", at=ago(199 - i), duration=0.4, input_tokens=100, output_tokens=10, cost=0.0001)
        m.tool("lookup", at=ago(150), duration=0.1)
    with m.agent("writer", at=ago(100), duration=20):
        m.model("claude-3-5-haiku", provider="anthropic", at=ago(99), duration=1.2, input_tokens=500,
                output_tokens=200, cost=0.0012)  # fmt: skip
        m.model("claude-3-5-haiku", provider="anthropic", at=ago(90), duration=3.0, error=("APITimeoutError", "t/o"))
    m.close()
    return path


def test_report(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "Model calls    6 (5 ok, 1 failed, 0 in flight)" in out
    assert "$0.0016" in out
    for text in ("gpt-4o-mini", "claude-3-5-haiku", "lookup", "triage", "writer", "APITimeoutError"):
        assert text in out, text
    assert main(["report", "--store", str(store), "--agent", "writer", "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "Model calls    2 (1 ok, 1 failed" in out and "filters: since_s=3600.0, agent=writer" in out
    assert main(["report", "--store", str(store), "--model", "gpt-4o-mini"]) == 0
    assert "Model calls    4 (4 ok" in capsys.readouterr().out


def test_report_on_a_store_file_without_tables_or_not_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")  # a writer created the file and not yet its schema
    assert main(["report", "--store", str(empty)]) == 0  # was a traceback: "no such table: spans"
    assert "Model calls    0 (0 ok, 0 failed" in capsys.readouterr().out
    assert main(["alerts", "--store", str(empty)]) == 0
    assert main(["clear", "--store", str(empty)]) == 1
    assert "holds 0 spans" in capsys.readouterr().out
    assert empty.stat().st_size == 0

    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database " * 200)
    assert main(["report", "--store", str(broken)]) == 2  # exit_codes.USAGE, as for an unreadable file
    err = capsys.readouterr().err
    assert f"agentmetrics report: the agentmetrics store at {broken} cannot be read (file is not a database)" in err
    assert "Traceback" not in err


def test_report_without_a_store_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", str(tmp_path / "none.sqlite3")]) == 3  # exit_codes.NO_STORE
    assert "run an instrumented program first" in capsys.readouterr().err
    assert main(["alerts", "--store", str(tmp_path / "none.sqlite3")]) == 3
    with pytest.raises(SystemExit):
        main(["report", "--since", "forever"])
    assert "is not a duration" in capsys.readouterr().err


def test_exports(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--store", str(store), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["calls"] == 6 and data["overall"]["cost_usd"] == pytest.approx(0.0016)
    target = tmp_path / "report.md"
    assert main(["export", "--store", str(store), "--format", "markdown", "-o", str(target)]) == 0
    markdown = target.read_text()
    assert markdown.startswith("# Agent metrics report") and "## Agents" in markdown and "| writer |" in markdown
    assert main(["export", "--store", str(store), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["group"], r["name"]): r["calls"] for r in rows}[("agent", "triage")] == "1"


def test_alerts_exit_status(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1 failure in 6 calls is 16.7%: over the default 10%, under twice it.
    assert main(["alerts", "--store", str(store)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("health: degraded") and "[warning] error_rate: 17% of 6 model calls failed" in out
    assert main(["alerts", "--store", str(store), "--error-rate", "off"]) == 0
    assert "no thresholds crossed" in capsys.readouterr().out
    assert main(["alerts", "--store", str(store), "--error-rate", "off", "--budget", "0.001"]) == 4  # unhealthy
    assert "[critical] budget: $0.0016 spent in the last 1d, budget $0.001" in capsys.readouterr().out
    assert main(["alerts", "--store", str(store), "--error-rate", "50%", "--p95-latency", "1s"]) == 1
    assert "[warning] latency" in capsys.readouterr().out



def test_alerts_usage_errors_are_distinct_from_health(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["alerts", "--store", str(store), "--max-failures", "many"])
    assert info.value.code == 2
    monkeypatch.setenv("AGENTMETRICS_ALERT_ERROR_RATE", "lots")
    assert main(["alerts", "--store", str(store)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "agentmetrics alerts: AGENTMETRICS_ALERT_ERROR_RATE='lots' is not a number; set it to e.g. 0.1 or off"
    )


def test_live_refreshes_in_place(store: Path) -> None:
    # Ctrl-C's own handler, even when the suite runs with SIGINT ignored (started in the background: nohup, `&`),
    # which the child would inherit and then never stop.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from otel_agentmetrics.cli import main; sys.exit(main())"
    )
    env = {**os.environ, "COLUMNS": "160", "TTY_COMPATIBLE": "1"}  # rich redraws in place only on a terminal
    process = subprocess.Popen(
        [sys.executable, "-c", code, "live", "--store", str(store), "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert out.count("Agent metrics") >= 2, out  # drawn more than once
    assert "claude-3-5-haiku" in out


def test_clear(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clear", "--store", str(store)]) == 1
    assert "holds 9 spans; add --yes to delete them" in capsys.readouterr().out
    assert main(["clear", "--store", str(store), "--older-than", "1d", "--yes"]) == 0
    assert "deleted 0 spans" in capsys.readouterr().out
    assert main(["clear", "--store", str(store), "--yes"]) == 0
    assert "deleted 9 spans" in capsys.readouterr().out
    assert main(["report", "--store", str(store)]) == 0
    assert "Model calls    0 (0 ok, 0 failed" in capsys.readouterr().out
