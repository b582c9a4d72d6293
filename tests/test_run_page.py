"""The run page: one agent run of the demo (its model calls, tool calls and a failing tool), drawn as a tree in
time order by a real dashboard server and shown by a headless Chromium without a console message."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agentmetrics.summary import make_server, run_detail, summary
from otel_agentmetrics.summary.run_page import run_page, tree

from .summary_kit import SpanMaker
from .test_dashboard import _FLAGS, _chromium, _get


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of each demo agent against the offline stand-in, recorded by the real instrumentation."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    run = "import sys; from otel_agentmetrics.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", run, "demo", "--runs", "1", "--latency", "0.05", "--store", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return path


@pytest.fixture
def server(demo_store: Path) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, demo_store, refresh_s=0)
    srv.start_in_thread()
    yield srv.url
    srv.shutdown()
    srv.server_close()


def _trip(store: Path) -> str:
    (run,) = [r for r in summary(store).recent_runs if r.name == "trip-planner"]
    return run.trace_id


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="step [^"]*" data-span="([0-9a-f]+)"', page)


def test_the_page_lists_every_step_under_its_run_in_time_order(demo_store: Path, server: str) -> None:
    trace_id = _trip(demo_store)
    detail = run_detail(demo_store, trace_id)
    spans = detail["spans"]
    # The demo's trip, behind its web route: the request, the agent, two model calls with a tool each, a failing
    # tool, a streamed summary.
    kinds = ["request", "agent", "model", "tool", "model", "model", "tool", "model", "tool", "model"]
    assert [s["kind"] for s in spans] == kinds
    status, kind, body = _get(server + "runs/" + trace_id)
    assert (status, kind) == (200, "text/html; charset=utf-8")
    request, agent = spans[0], spans[1]
    assert _rows(body) == [s["span_id"] for s in spans]  # every step, in start order
    (root,) = tree(spans)
    assert root.span is request and [child.span for child in root.children] == [agent]
    assert len(root.children[0].children) == len(spans) - 2
    assert "book_hotel" in body and "RuntimeError" in body
    assert body.count('class="fill"') == len(spans)
    # The JSON stays where it was.
    status, kind, _ = _get(server + "api/runs/" + trace_id)
    assert (status, kind) == (200, "application/json")
    assert _get(server + "runs/" + "0" * 32)[0] == 404


def test_nested_runs_hang_under_their_parent(tmp_path: Path) -> None:
    path = tmp_path / "spans.sqlite3"
    m = SpanMaker(path)
    with m.agent("planner", at=100, duration=50):
        m.model("gpt-4o-mini", at=99, duration=2, input_tokens=10, output_tokens=5, cost=0.000012)
        with m.agent("researcher", at=95, duration=20):
            m.tool("search", at=94, duration=1, error=("TimeoutError", "search timed out"))
            m.model("gpt-4o", at=90, duration=3, input_tokens=100, output_tokens=20)
        m.model("gpt-4o-mini", at=60, duration=1)
    m.close()
    (run,) = [r for r in summary(path).recent_runs if r.name == "planner"]
    detail = run_detail(path, run.trace_id)
    (root,) = tree(detail["spans"])
    shape = [(c.span["kind"], [g.span["kind"] for g in c.children]) for c in root.children]
    assert shape == [("model", []), ("agent", ["tool", "model"]), ("model", [])]
    page = run_page(detail, {"token": "t&k"})
    assert "padding-left:44px" in page  # the nested run's steps are indented two levels
    assert "TimeoutError: search timed out" in page and "$0.000012" in page
    assert 'href="../?token=t%26k"' in page


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (tests/system-deps.sh installs it)")
def test_a_browser_shows_the_run_without_console_messages(demo_store: Path, server: str, tmp_path: Path) -> None:
    browser = _chromium()
    assert browser is not None
    trace_id = _trip(demo_store)
    spans = run_detail(demo_store, trace_id)["spans"]
    shown = subprocess.run(
        [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", server + "runs/" + trace_id],
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    assert _rows(shown.stdout) == [s["span_id"] for s in spans]
    assert "trip-planner" in shown.stdout and "get_weather" in shown.stdout
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    # The check itself sees a page's console errors: the dashboard's own page with a script that fails.
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('seen'); missing();</script></body></html>")
    seen = subprocess.run(
        [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", bad.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    assert len([line for line in seen.stderr.splitlines() if ":CONSOLE" in line]) == 2


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (tests/system-deps.sh installs it)")
def test_the_dashboard_shows_the_demo_process_resources(demo_store: Path, server: str, tmp_path: Path) -> None:
    """The demo turns on process_metrics: its store heartbeat carries the process's memory and CPU."""
    (process,) = summary(demo_store).processes
    assert process.service == "agentmetrics-demo" and process.memory_bytes is not None
    browser = _chromium()
    assert browser is not None
    shown = subprocess.run(
        [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", server],
        capture_output=True,
        text=True,
        timeout=90,
    )
    dom = shown.stdout.split("<script>")[0]
    section = dom[dom.index('<section id="processes">') :].split("</section>")[0]
    assert "<h2>Processes</h2>" in section and f"<td>{process.name}</td>" in section
    assert re.search(r"<td>\d+\.\d MiB</td>", section)
