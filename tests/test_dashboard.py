"""The dashboard as people and machines use it: a real HTTP server, a headless Chromium, a Starlette app."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agentmetrics._config import ConfigError
from otel_agentmetrics.summary import Filters, dashboard_app, make_server

from .summary_kit import SpanMaker

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Recent spans (relative to the real clock, as the page shows the last minutes)."""
    path = tmp_path / "spans.sqlite3"
    m = SpanMaker(path)
    import time

    from . import summary_kit

    offset = time.time() - summary_kit.NOW  # SpanMaker counts seconds back from NOW; shift to the real clock
    ago = lambda seconds: seconds - offset  # noqa: E731
    with m.agent("support-bot", at=ago(300), duration=20):
        m.model("gpt-4o-mini", at=ago(299), duration=0.8, input_tokens=1200, output_tokens=300, cost=0.00036)
        m.tool("search_orders", at=ago(298), duration=0.3)
        m.tool("lookup_cache", at=ago(297), duration=0.00004)  # 40µs: must not read as "0ms"
        m.model(
            "claude-3-5-haiku-20241022",
            provider="anthropic",
            at=ago(290),
            duration=1.6,
            input_tokens=2000,
            output_tokens=500,
            cost=0.0036,
        )
    with m.agent("support-bot", at=ago(120), duration=5):
        m.model("gpt-4o-mini", at=ago(119), duration=2.5, error=("RateLimitError", "Error code: 429 - slow down"))
        m.tool("refund", at=ago(117), duration=0.1, error=("PermissionError", "refunds need a human"))
    m.close()
    return path


@pytest.fixture
def server(store: Path) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, store, refresh_s=0)
    srv.start_in_thread()
    yield srv.url
    srv.shutdown()
    srv.server_close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_json_api_metrics_and_health(server: str) -> None:
    status, kind, body = _get(server + "api/summary?since=1h")
    assert (status, kind) == (200, "application/json")
    data = json.loads(body)
    assert data["overall"]["calls"] == 3 and data["overall"]["failed"] == 1
    assert data["overall"]["cost_usd"] == pytest.approx(0.00396)
    assert [a["name"] for a in data["by_agent"]] == ["support-bot"]
    assert data["filters"] == {"since_s": "3600.0"}

    status, _, body = _get(server + "api/summary?model=claude-3-5-haiku-20241022")
    assert json.loads(body)["overall"]["calls"] == 1

    status, _, body = _get(server + "api/timeseries?since=15m&bucket=minute")
    points = json.loads(body)
    assert status == 200 and sum(p["calls"] for p in points) == 3 and len(points) == 16

    status, _, body = _get(server + "api/runs?limit=1")
    (latest,) = json.loads(body)
    assert (latest["kind"], latest["name"], latest["model_calls"], latest["tool_calls"]) == (
        "agent",
        "support-bot",
        1,
        1,
    )
    status, _, body = _get(server + "api/runs/" + latest["trace_id"])
    detail = json.loads(body)
    assert status == 200 and [s["kind"] for s in detail["spans"]] == ["agent", "model", "tool"]
    assert _get(server + "api/runs/" + "0" * 32)[0] == 404

    status, kind, body = _get(server + "metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    assert 'agentmetrics_model_calls_total{model="gpt-4o-mini",outcome="error"} 1' in body.splitlines()

    # 1 of 3 calls failed: too few calls for the error-rate alert (it needs 5), so healthy.
    status, _, body = _get(server + "health")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    status, _, body = _get(server + "api/summary?since=nonsense")
    assert status == 400 and "not a duration" in json.loads(body)["error"]
    assert _get(server + "nope")[0] == 404


def test_before_anything_is_recorded(tmp_path: Path) -> None:
    srv = make_server("127.0.0.1", 0, tmp_path / "not-yet.sqlite3")
    srv.start_in_thread()
    try:
        status, kind, body = _get(srv.url)
        assert (status, kind) == (200, "text/html; charset=utf-8")
        assert "Nothing recorded yet" in body and "not-yet.sqlite3" in body and "agentmetrics demo" in body
        status, _, body = _get(srv.url + "api/summary")
        assert status == 404 and "run an instrumented program first" in json.loads(body)["error"]
    finally:
        srv.shutdown()
        srv.server_close()


def _store_without_tables(path: Path, how: str) -> None:
    """The file as a writer leaves it between creating it and creating its schema, or as an empty file."""
    if how == "empty file":
        path.write_bytes(b"")
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")  # what a writer does first: the file exists, no table yet
        conn.close()


@pytest.mark.parametrize("how", ["empty file", "file without tables"])
def test_a_store_without_its_tables_yet_answers_no_calls_yet(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spans.sqlite3"
    _store_without_tables(path, how)
    before = path.read_bytes()
    srv = make_server("127.0.0.1", 0, path, refresh_s=0)
    srv.start_in_thread()
    try:
        status, kind, body = _get(srv.url + "api/summary")
        assert (status, kind) == (200, "application/json"), body  # was 500: "no such table: spans"
        data = json.loads(body)
        assert data["overall"]["calls"] == 0 and data["by_model"] == [] and data["health"]["status"] == "healthy"
        for route in ("api/timeseries?since=15m", "api/runs", "api/evaluations", "metrics", "health"):
            assert _get(srv.url + route)[0] == 200, route
        status, _, body = _get(srv.url + "api/runs/" + "0" * 32)
        assert status == 404 and "no run with trace id" in json.loads(body)["error"]
        status, kind, body = _get(srv.url)  # the dashboard itself, with its tables empty (as for a cleared store)
        assert (status, kind) == (200, "text/html; charset=utf-8") and '"calls": 0' in body
    finally:
        srv.shutdown()
        srv.server_close()
    assert path.read_bytes() == before  # reading wrote nothing into the file a writer is about to set up
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_store_file_that_is_not_a_database_says_so_and_what_to_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spans.sqlite3"
    path.write_bytes(b"this is not a database " * 200)
    srv = make_server("127.0.0.1", 0, path, refresh_s=0)
    srv.start_in_thread()
    try:
        for route in ("api/summary", "api/timeseries", "api/evaluations", "health", "metrics"):
            status, kind, body = _get(srv.url + route)
            message = json.loads(body)["error"]
            assert (status, kind) == (500, "application/json"), route
            assert f"store at {path} cannot be read (file is not a database)" in message, message
            assert "move the file aside" in message
        status, kind, body = _get(srv.url)
        assert (status, kind) == (500, "text/html; charset=utf-8") and "cannot be read" in body
    finally:
        srv.shutdown()
        srv.server_close()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no traceback in the server's log


def test_health_is_503_when_unhealthy(store: Path) -> None:
    from otel_agentmetrics.summary import Thresholds

    srv = make_server("127.0.0.1", 0, store, thresholds=Thresholds(min_calls=1, error_rate=0.1))
    srv.start_in_thread()
    try:
        status, _, body = _get(srv.url + "health")
    finally:
        srv.shutdown()
        srv.server_close()
    assert status == 503
    assert json.loads(body)["alerts"][0]["name"] == "error_rate"


def test_cross_origin_reads_only_for_allowed_origins(store: Path) -> None:
    srv = make_server("127.0.0.1", 0, store)
    srv.dashboard.allowed_origins = ("http://localhost:3000",)
    srv.start_in_thread()
    try:
        request = urllib.request.Request(srv.url + "api/summary", headers={"Origin": "http://localhost:3000"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        request = urllib.request.Request(srv.url + "api/summary", headers={"Origin": "http://evil.example"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] is None
    finally:
        srv.shutdown()
        srv.server_close()


def test_beyond_loopback_needs_a_token(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="set a token with --token or AGENTMETRICS_DASHBOARD_TOKEN"):
        make_server("0.0.0.0", 0, store)
    monkeypatch.setenv("AGENTMETRICS_DASHBOARD_TOKEN", "s3cret")
    srv = make_server("0.0.0.0", 0, store)
    srv.start_in_thread()
    port = srv.server_address[1]
    try:
        base = f"http://127.0.0.1:{port}/"
        assert _get(base + "api/summary")[0] == 401
        assert _get(base + "api/summary", {"Authorization": "Bearer wrong"})[0] == 401
        assert _get(base + "api/summary", {"Authorization": "Bearer s3cret"})[0] == 200
        assert _get(base + "?token=s3cret")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_mounts_in_a_starlette_app(store: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.testclient import TestClient

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("the user's app")

    app = Starlette(routes=[Route("/", home), Mount("/agentmetrics", app=dashboard_app(store))])
    with TestClient(app) as client:
        assert client.get("/").text == "the user's app"
        page = client.get("/agentmetrics/")
        assert page.status_code == 200 and "<title>agentmetrics dashboard</title>" in page.text
        assert client.get("/agentmetrics/api/summary").json()["overall"]["calls"] == 3
        assert client.get("/agentmetrics/health").json()["status"] == "healthy"
        assert "agentmetrics_cost_usd_total" in client.get("/agentmetrics/metrics").text
        redirect = client.get("/agentmetrics", follow_redirects=False)
        assert redirect.status_code == 307 and redirect.headers["location"].endswith("/agentmetrics/")


def test_a_short_run_fills_the_chart_instead_of_one_bar_at_its_edge(tmp_path: Path) -> None:
    from otel_agentmetrics.summary import timeseries

    from .summary_kit import NOW

    path = tmp_path / "short.sqlite3"
    m = SpanMaker(path)
    for second in range(0, 20, 2):  # a 20-second run, 100 seconds ago
        m.model("gpt-4o-mini", at=120 - second, duration=0.5, input_tokens=10, output_tokens=2, cost=0.001)
    m.close()
    points = timeseries(path, now=NOW)  # no window: the series covers the data, in one-second buckets
    assert [p.t - points[0].t for p in points[:2]] == [0, 1] and len(points) == 19
    assert points[0].t == NOW - 120 and points[-1].t == NOW - 102
    assert [p.calls for p in points] == [1, 0] * 9 + [1]
    window = timeseries(path, Filters(since=900), now=NOW)  # 15 minutes in 15-second buckets, up to now
    assert len(window) == 61 and window[1].t - window[0].t == 15 and window[-1].t == NOW
    assert sum(p.calls for p in window) == 10
    hour = {p.t: p.calls for p in timeseries(path, Filters(since=3600), now=NOW)}  # one-minute buckets
    assert len(hour) == 61 and hour[NOW - 120] == 10
    assert len(timeseries(path, Filters(since=7 * 86400), now=NOW)) == 57  # 7 days in 3-hour buckets
    assert timeseries(path, now=NOW, bucket="minute")[0].t == (NOW - 120) // 60 * 60
    assert len(timeseries(path, now=NOW, bucket="5")) == 4  # seconds, as /api/timeseries?bucket=5 passes them
    for bad in ("fortnight", "0", "-60", "inf", "nan"):
        with pytest.raises(ValueError, match="'auto', 'minute', 'hour' or a number of seconds"):
            timeseries(path, now=NOW, bucket=bad)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1700",
)


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (tests/system-deps.sh installs it)")
def test_a_browser_shows_the_dashboard(server: str, tmp_path: Path) -> None:
    browser = _chromium()
    assert browser is not None
    profile = [f"--user-data-dir={tmp_path / 'profile'}"]
    dump = subprocess.run(
        [browser, *_FLAGS, *profile, "--dump-dom", server + "?since=1h"],
        capture_output=True,
        text=True,
        timeout=90,
    ).stdout
    dom = dump.split("<script>")[0]  # what the script drew, not the data embedded in it
    assert "</main>" in dom
    # What a person sees: the health badge, the headline numbers, every table and both charts.
    assert 'id="health" class="badge healthy">HEALTHY<' in dom
    assert '<div class="label">Model calls</div><div class="value">3</div>' in dom
    assert '<div class="value">66.7%</div>' in dom  # success rate
    assert '<div class="value">$0.0040</div>' in dom  # cost
    assert "<td>claude-3-5-haiku-20241022</td>" in dom and "<td>gpt-4o-mini</td>" in dom
    assert "<td>search_orders</td>" in dom and "<td>refund</td>" in dom
    assert "<td>support-bot</td>" in dom
    assert "RateLimitError" in dom and "refunds need a human" in dom
    assert "Errors by type" in dom and 'href="runs/' in dom
    assert dom.count("<svg") == 2 and "<rect" in dom
    assert "<td>lookup_cache</td><td>1</td><td>0</td><td>100.0%</td><td>40µs</td>" in dom
    # The calls chart counts whole calls (1 or 2 a minute here, as the clock falls): gridlines 0, 1 (, 2).
    calls_chart = dom.split('id="chart-calls"')[1].split("</svg>")[0]
    y_labels = re.findall(r'<text class="y" [^>]*>([^<]*)</text>', calls_chart)
    assert y_labels in (["0", "1"], ["0", "1", "2"]), y_labels
    # Dollars at round steps: $0.0036 (or $0.00396) a minute at most, so a gridline every $0.001.
    cost_chart = dom.split('id="chart-cost"')[1].split("</svg>")[0]
    cost_labels = re.findall(r'<text class="y" [^>]*>([^<]*)</text>', cost_chart)
    assert cost_labels == ["$0", "$0.0010", "$0.0020", "$0.0030", "$0.0040"], cost_labels
    assert 'class="win on"' in dom and ">1 hour</a>" in dom

    # With no window, the charts cover the data (3 minutes in 5-second buckets): the first call is at the left
    # edge, not squeezed into one bar at the right of an hour of empty minutes.
    everything = subprocess.run(
        [browser, *_FLAGS, *profile, "--dump-dom", server], capture_output=True, text=True, timeout=90
    ).stdout.split("<script>")[0]
    calls_chart = everything.split('id="chart-calls"')[1].split("</svg>")[0]
    bars = [float(x) for x in re.findall(r'<rect x="([\d.]+)"', calls_chart)]
    assert min(bars) < 100 < 500 < max(bars), bars  # the first bucket starts at the left of the 600 wide chart
    assert len(re.findall(r"\d\d:\d\d:\d\d", calls_chart.split("</rect>")[-1])) >= 2  # seconds on the time axis

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [browser, *_FLAGS, *profile, f"--screenshot={shot}", server + "?since=1h"],
        capture_output=True,
        timeout=90,
    )
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
