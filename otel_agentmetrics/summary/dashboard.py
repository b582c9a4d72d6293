"""The dashboard's routes, once, served two ways: a stdlib HTTP server (``agentmetrics serve``) and an ASGI app
that mounts into a user's FastAPI/Starlette app (``app.mount("/agentmetrics", dashboard_app())``).

Routes: ``/`` (the HTML page), ``/runs/<trace id>`` (one run's steps), ``/api/summary``, ``/api/timeseries``,
``/metrics`` (Prometheus text) and ``/health`` (503 when unhealthy). With a token set, every route asks for it
(``Authorization: Bearer <token>`` or ``?token=``); ``serve`` refuses to listen beyond loopback without one.

A request whose ``Host`` is not the address the server is bound to (any loopback name for a loopback bind, any
IP literal for a wildcard bind) or a configured name gets 421: a web page that rebinds its own domain name to
127.0.0.1 (DNS rebinding) cannot read the summary. Query parameters are bounded: a bad one gets 400.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._config import ConfigError
from .._guard import logger
from . import render
from .health import Thresholds
from .page import empty_page, page, unreadable_page
from .queries import Filters
from .source import StoreSource, SummarySource
from .store import StoreUnreadable
from .timeparse import parse_duration

TOKEN_ENV = "AGENTMETRICS_DASHBOARD_TOKEN"
ALLOWED_HOSTS_ENV = "AGENTMETRICS_DASHBOARD_ALLOWED_HOSTS"
MAX_RUNS = 1000
"""The most runs ``/api/runs?limit=`` lists."""
MAX_WINDOW_S = 100 * 365 * 86400.0
"""The longest ``since=`` window: a century is "all" for any store."""
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, "application/json", json.dumps(data, default=str).encode())


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


class Dashboard:
    """Answers one request at a time from the store; knows nothing about sockets."""

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        token: str | None = None,
        thresholds: Thresholds | None = None,
        refresh_s: float = 5.0,
        allowed_origins: tuple[str, ...] = (),
        source: SummarySource | None = None,
        allowed_hosts: tuple[str, ...] | None = None,
    ) -> None:
        self.store = store
        self.source: SummarySource = source if source is not None else StoreSource(store)
        self.token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
        self.thresholds = thresholds
        self.refresh_s = refresh_s
        self.allowed_origins = allowed_origins
        if allowed_hosts is None:
            allowed_hosts = tuple(h.strip() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip())
        self.allowed_hosts = frozenset(_host_name(h) for h in allowed_hosts)
        """Host names accepted besides the bound address (``*``: any, for an app behind its own host check)."""

    def _authorized(self, query: dict[str, str], headers: dict[str, str]) -> bool:
        if not self.token:
            return True
        given = query.get("token") or ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    def host_allowed(self, host: str | None, bound: str | None) -> bool:
        """Whether a request with this ``Host`` header may be answered by a server bound to ``bound``
        (``None``: unknown, taken as a wildcard bind)."""
        if host is None or "*" in self.allowed_hosts:
            return True  # no Host at all is an old client, not a browser: rebinding needs a name in Host
        name = _host_name(host)
        if name in self.allowed_hosts:
            return True
        bound_name = _host_name(bound) if bound else ""
        if bound_name in ("", "0.0.0.0", "::"):
            return name == "localhost" or _is_ip(name)
        if name == bound_name:
            return True
        return _is_loopback(bound_name) and (name in _LOOPBACK_NAMES or (_is_ip(name) and _is_loopback(name)))

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], bound: str | None = None
    ) -> Response:
        """Answer one request; ``bound`` is the address the server listens on, for the ``Host`` check."""
        if not self.host_allowed(headers.get("host"), bound):
            return _error(
                421,
                f"Host {headers.get('host')!r} is not this dashboard's address; open it by its address, or allow "
                f"the name with --allowed-host, allowed_hosts=... or {ALLOWED_HOSTS_ENV}",
            )
        try:
            response = self._route(method, path, query, headers)
        except Exception:  # a bug of ours answers 500; it never drops the connection
            logger.exception("otel-agentmetrics: the dashboard failed to answer %s", path)
            response = _error(500, "internal error; see the server's log")
        origin = headers.get("origin")
        if origin and (origin in self.allowed_origins or "*" in self.allowed_origins):
            # Another web app of yours may read the JSON API (CORS); the page itself needs none of this.
            response.headers += (("access-control-allow-origin", origin), ("vary", "Origin"))
        return response

    def _evaluations(self, filters: Filters) -> dict[str, Any]:
        """Evaluations beside cost (record_evaluation), from a local store; a fleet source has none."""
        from .evaluations import of_store
        from .source import StoreSource

        if not isinstance(self.source, StoreSource):
            return {"model": [], "agent": [], "run": []}
        return of_store(self.source.path, filters.since)

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        if method not in ("GET", "HEAD"):
            return _error(405, "only GET is supported")
        if not self._authorized(query, headers):
            return _error(401, "this dashboard needs its token: ?token=... or Authorization: Bearer ...")
        route = path.rstrip("/") or "/"
        summary, timeseries = self.source.summary, self.source.timeseries
        try:
            filters = _filters(query)
            if route == "/":
                if not self.source.exists():
                    return Response(200, "text/html; charset=utf-8", empty_page(self.source.location).encode())
                data = summary(filters, self.thresholds, by=query.get("by") or None)
                series = timeseries(filters)
                body = page(data, series, refresh_s=self.refresh_s, query=query, evaluations=self._evaluations(filters))
                return Response(200, "text/html; charset=utf-8", body.encode())
            if route == "/api/summary":
                return _json(summary(filters, self.thresholds, by=query.get("by") or None).to_dict())
            if route == "/api/timeseries":
                bucket = query.get("bucket") or "auto"
                return _json([vars_of(p) for p in timeseries(filters, bucket=bucket)])
            if route == "/api/evaluations":
                return _json(self._evaluations(filters))
            if route == "/api/runs":
                limit = _bounded_int("limit", query.get("limit") or "20", 0, MAX_RUNS)
                return _json([vars_of(r) for r in summary(filters, self.thresholds, recent=limit).recent_runs])
            if route.startswith("/runs/"):
                from .run_page import run_page

                detail = self.source.run_detail(route.removeprefix("/runs/"))
                return Response(200, "text/html; charset=utf-8", run_page(detail, query).encode())
            if route.startswith("/api/runs/"):
                return _json(self.source.run_detail(route.removeprefix("/api/runs/")))
            if route == "/metrics":
                text = render.to_prometheus(summary(filters, self.thresholds))
                return Response(200, "text/plain; version=0.0.4; charset=utf-8", text.encode())
            if route == "/health":
                s = summary(filters, self.thresholds, recent=0)
                body_data = {
                    "status": s.health.status,
                    "alerts": [vars_of(a) for a in s.health.alerts],
                    "uptime_s": s.uptime_s,
                    "calls": s.overall.calls,
                    "active_calls": s.active_calls,
                    "dropped_spans": s.dropped_spans,
                    "export_dropped": s.export_dropped,
                }
                return _json(body_data, 503 if s.health.status == "unhealthy" else 200)
        except (FileNotFoundError, LookupError) as error:
            return _error(404, str(error))
        except StoreUnreadable as error:  # a file that is not a database: say which and what to do, no traceback
            if route == "/":
                return Response(500, "text/html; charset=utf-8", unreadable_page(str(error)).encode())
            return _error(500, str(error))
        except OSError as error:  # the Prometheus server behind a fleet dashboard is unreachable
            return _error(502, str(error))
        except ValueError as error:
            return _error(400, str(error))
        routes = "/, /api/summary, /api/timeseries, /api/runs, /api/evaluations, /metrics or /health"
        return _error(404, f"no route {path}; try {routes}")


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _filters(query: dict[str, str]) -> Filters:
    since = query.get("since") or ""
    seconds = None
    if since and since != "all":
        try:
            seconds = parse_duration(since)
        except ValueError:
            raise ValueError(f"since={since[:40]!r} is not a duration; use e.g. 15m, 24h, 7d or all") from None
        if not 0 <= seconds <= MAX_WINDOW_S:  # 400 digits parse as infinity
            raise ValueError(f"since={since[:40]!r} is out of range; use e.g. 15m, 24h, 7d or all")
    return Filters(
        since=seconds,
        model=query.get("model") or None,
        agent=query.get("agent") or None,
        provider=query.get("provider") or None,
        service=query.get("service") or None,
    )


def _bounded_int(name: str, text: str, low: int, high: int) -> int:
    if not (text.isdigit() and len(text) <= 9 and low <= int(text) <= high):
        raise ValueError(f"{name}={text[:40]!r}; use a whole number from {low} to {high}")
    return int(text)


def _host_name(value: str) -> str:
    """The host of a ``Host`` header or address, without port, brackets or trailing dot, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _query(raw: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


# ---- ASGI -------------------------------------------------------------------------------------------------------


def dashboard_app(
    store: str | os.PathLike[str] | None = None,
    *,
    token: str | None = None,
    thresholds: Thresholds | None = None,
    refresh_s: float = 5.0,
    allowed_origins: tuple[str, ...] = (),
    source: SummarySource | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app with the dashboard's routes, for ``app.mount("/agentmetrics", dashboard_app())`` in FastAPI or
    Starlette. Store reads run in a worker thread so the event loop never waits on the disk. ``allowed_hosts``:
    names besides the server's address that may appear in ``Host`` (``("*",)`` when your app checks hosts)."""
    dashboard = Dashboard(
        store,
        token=token,
        thresholds=thresholds,
        refresh_s=refresh_s,
        allowed_origins=allowed_origins,
        source=source,
        allowed_hosts=allowed_hosts,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        if root and path.startswith(root):
            path = path[len(root) :]
        if path == "" and root:
            # Relative links in the page need the trailing slash.
            await _send(send, Response(307, "text/plain", b"", (("location", root + "/"),)))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = _query(scope.get("query_string", b"").decode("latin-1"))
        server = scope.get("server")
        bound = str(server[0]) if server else None
        response = await asyncio.to_thread(dashboard.handle, scope["method"], path or "/", query, headers, bound)
        await _send(send, response, head=scope["method"] == "HEAD")

    return app


async def _send(send: Send, response: Response, head: bool = False) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        (b"cache-control", b"no-store"),
        *((k.encode(), v.encode()) for k, v in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


# ---- stdlib server ----------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}/"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="agentmetrics-dashboard", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        self._answer()

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def _answer(self, head: bool = False) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        bound = self.server.server_address[0]
        bound_text = bound.decode() if isinstance(bound, bytes) else str(bound)
        response = self.server.dashboard.handle("GET", parts.path, _query(parts.query), headers, bound_text)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in response.headers:
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        pass


def make_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    store: str | os.PathLike[str] | None = None,
    *,
    token: str | None = None,
    thresholds: Thresholds | None = None,
    refresh_s: float = 5.0,
    source: SummarySource | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> DashboardServer:
    """The dashboard on ``host:port`` (port 0 picks a free one) of the store, or of ``source`` (a fleet's
    Prometheus). Beyond loopback a token is required. ``allowed_hosts``: names besides the bound address that
    requests may give as ``Host``."""
    dashboard = Dashboard(
        store,
        token=token,
        thresholds=thresholds,
        refresh_s=refresh_s,
        source=source,
        allowed_hosts=allowed_hosts,
    )
    if not _is_loopback(host) and not dashboard.token:
        raise ConfigError(
            f"serving the dashboard on {host} exposes your usage data; set a token with --token or {TOKEN_ENV}"
        )
    return DashboardServer(host, port, dashboard)
