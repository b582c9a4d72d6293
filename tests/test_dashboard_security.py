"""The dashboard answers only requests addressed to it, asks for its token, and turns hostile parameters into
400s (issue 14, defect 6): a real server on 127.0.0.1 spoken to with raw HTTP, and the ASGI app in Starlette."""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agentmetrics.summary import dashboard_app, make_server
from otel_agentmetrics.summary.dashboard import Dashboard, DashboardServer

from .summary_kit import SpanMaker

TOKEN = "s3cret-dashboard-token"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "spans.sqlite3"
    maker = SpanMaker(path)
    maker.model("gpt-4o-mini", at=60, duration=0.5, input_tokens=100, output_tokens=20, cost=0.0001)
    maker.model("gpt-4o-mini", at=30, duration=0.7, error=("RateLimitError", "Error code: 429 - slow down"))
    maker.close()
    return path


def serve(store: Path, **options: object) -> DashboardServer:
    server = make_server("127.0.0.1", 0, store, refresh_s=0, **options)  # type: ignore[arg-type]
    server.start_in_thread()
    return server


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[DashboardServer]:
    srv = serve(store)
    yield srv
    srv.shutdown()
    srv.server_close()


def get(
    srv: DashboardServer, target: str, host: str | None = "", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """One raw request. ``host=""`` sends the server's own address, ``None`` no Host header at all."""
    address, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(str(address), int(port), timeout=10)
    try:
        conn.putrequest("GET", target, skip_host=True)
        if host is not None:
            conn.putheader("Host", host or f"127.0.0.1:{port}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("host", ["", "localhost:{port}", "LOCALHOST", "127.0.0.1", "[::1]:{port}", None])
def test_loopback_names_are_answered(server: DashboardServer, host: str | None) -> None:
    port = server.server_address[1]
    status, body = get(server, "/api/summary", host=None if host is None else host.format(port=port))
    assert status == 200
    assert json.loads(body)["overall"]["calls"] == 2


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.7"]
)
def test_other_hosts_get_421_and_no_data(server: DashboardServer, host: str) -> None:
    """DNS rebinding: a page on evil.example re-points its name to 127.0.0.1 and reads the API."""
    for route in ("/", "/api/summary", "/metrics", "/health"):
        status, body = get(server, route, host=host.format(port=server.server_address[1]))
        assert status == 421
        assert "RateLimitError" not in body and "gpt-4o-mini" not in body
        assert "--allowed-host" in json.loads(body)["error"]


def test_allowed_hosts_option_and_environment(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = serve(store, allowed_hosts=("Dash.Internal",))
    try:
        assert get(srv, "/health", host="dash.internal:8765")[0] == 200
        assert get(srv, "/health", host="other.internal")[0] == 421
    finally:
        srv.shutdown()
        srv.server_close()
    monkeypatch.setenv("AGENTMETRICS_DASHBOARD_ALLOWED_HOSTS", "a.example, b.example")
    srv = serve(store)
    try:
        assert get(srv, "/health", host="b.example")[0] == 200
        assert get(srv, "/health", host="c.example")[0] == 421
    finally:
        srv.shutdown()
        srv.server_close()


def test_wildcard_and_specific_binds() -> None:
    dashboard = Dashboard(None, allowed_hosts=())
    assert dashboard.host_allowed("192.168.1.4:8765", "0.0.0.0")
    assert dashboard.host_allowed("[fe80::1]:8765", "::")
    assert dashboard.host_allowed("localhost", "0.0.0.0")
    assert not dashboard.host_allowed("evil.example", "0.0.0.0")
    assert dashboard.host_allowed("192.168.1.4", "192.168.1.4")
    assert not dashboard.host_allowed("localhost", "192.168.1.4")
    assert not dashboard.host_allowed("evil.example", None)
    assert Dashboard(None, allowed_hosts=("*",)).host_allowed("anything.example", "127.0.0.1")


def test_token_is_required_and_compared_exactly(store: Path) -> None:
    srv = serve(store, token=TOKEN)
    try:
        assert get(srv, "/api/summary")[0] == 401
        assert get(srv, "/api/summary?token=wrong")[0] == 401
        assert get(srv, f"/api/summary?token={TOKEN[:-1]}")[0] == 401
        assert get(srv, "/api/summary?token=%27%20OR%20%271%27%3D%271")[0] == 401
        assert get(srv, "/api/summary", headers={"Authorization": "Bearer " + TOKEN + "x"})[0] == 401
        assert get(srv, f"/api/summary?token={TOKEN}")[0] == 200
        assert get(srv, "/api/summary", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        # The right token does not open the door to a foreign Host.
        assert get(srv, f"/api/summary?token={TOKEN}", host="evil.example")[0] == 421
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/api/summary?since=" + "9" * 400, "since="),
        ("/api/summary?since=" + "9" * 5000, "since="),
        ("/api/timeseries?since=1e400", "is not a duration"),
        ("/api/summary?since=-5m", "is not a duration"),
        ("/api/summary?since=" + "9" * 12 + "d", "out of range"),
        ("/api/summary?since=" + "x" * 5000, "is not a duration"),
        ("/api/runs?limit=" + "9" * 400, "limit="),
        ("/api/runs?limit=-1", "limit="),
        ("/api/runs?limit=1001", "limit="),
        ("/api/timeseries?bucket=week", "bucket="),
        ("/?since=" + "9" * 400, "since="),
    ],
)
def test_out_of_bounds_parameters_get_400(server: DashboardServer, target: str, message: str) -> None:
    status, body = get(server, target)
    assert status == 400
    error = json.loads(body)["error"]
    assert message in error and len(error) < 200


@pytest.mark.parametrize(
    "target",
    [
        "/api/summary?model=x%27%20OR%20%271%27%3D%271",
        "/api/summary?service=%27%3B%20DROP%20TABLE%20spans%3B%20--",
        "/api/summary?provider=openai%22%20OR%201%3D1%20--&agent=%27)%20UNION%20SELECT%201--",
        "/api/timeseries?service=x%27%20OR%201%3D1%20--",
        "/api/runs/%27%20OR%201%3D1%20--",
        "/api/runs/x%27%3B%20DELETE%20FROM%20spans%3B%20--",
    ],
)
def test_sql_injection_in_parameters_matches_nothing_and_changes_nothing(
    server: DashboardServer, store: Path, target: str
) -> None:
    status, body = get(server, target)
    if "/api/runs/" in target:
        assert status == 404
    else:
        assert status == 200
        data = json.loads(body)
        calls = data["overall"]["calls"] if isinstance(data, dict) else sum(p["calls"] for p in data)
        assert calls == 0
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 2
    assert json.loads(get(server, "/api/summary")[1])["overall"]["calls"] == 2


def test_asgi_app_checks_host_against_the_server_address(store: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    app = Starlette(routes=[Mount("/agentmetrics", app=dashboard_app(store))])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/agentmetrics/api/summary").status_code == 200
        assert client.get("/agentmetrics/api/summary", headers={"host": "localhost:8000"}).status_code == 200
        refused = client.get("/agentmetrics/api/summary", headers={"host": "evil.example:8000"})
        assert refused.status_code == 421 and "gpt-4o-mini" not in refused.text
        assert client.get("/agentmetrics/api/summary?since=" + "9" * 400).status_code == 400
    proxied = Starlette(routes=[Mount("/agentmetrics", app=dashboard_app(store, allowed_hosts=("app.example",)))])
    with TestClient(proxied, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/agentmetrics/health", headers={"host": "app.example"}).status_code == 200
