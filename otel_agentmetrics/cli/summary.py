"""``agentmetrics report | live | export | alerts | serve``: the local summary view from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .._config import ConfigError
from . import exit_codes


def _duration(text: str) -> float:
    from ..summary.timeparse import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _rate(text: str) -> float | None:
    if text.lower() in ("off", "none"):
        return None
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate; use e.g. 10% or 0.1") from None
    return value / 100 if text.endswith("%") or value > 1 else value


def _source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="the store file (default: AGENTMETRICS_STORE or the per-user data dir)")
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        help="summarise the fleet from this Prometheus server instead (default: AGENTMETRICS_PROMETHEUS_URL)",
    )


def _common(parser: argparse.ArgumentParser, window: bool = True) -> None:
    _source(parser)
    if window:
        parser.add_argument("--since", type=_duration, help="only the last 15m, 24h, 7d ... (default: everything)")
    parser.add_argument("--model", help="only calls of this model")
    parser.add_argument("--agent", help="only this agent's runs and calls")
    parser.add_argument("--provider", help="only calls to this provider (openai, anthropic ...)")
    parser.add_argument("--service", help="only spans of this service.name")
    parser.add_argument(
        "--by",
        choices=("service.name", "service.instance.id", "host"),
        help="also break model calls down by process (the store knows service.name only)",
    )


def _alerting(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("alert thresholds (default: AGENTMETRICS_ALERT_* or built-in)")
    group.add_argument("--error-rate", type=_rate, default=argparse.SUPPRESS, help="e.g. 10%% (off to disable)")
    group.add_argument("--p95-latency", type=_duration, default=argparse.SUPPRESS, help="e.g. 20s")
    group.add_argument("--max-failures", type=int, default=argparse.SUPPRESS, help="failed calls in the window")
    group.add_argument("--budget", type=float, default=argparse.SUPPRESS, help="dollars per budget window")
    group.add_argument("--budget-window", type=_duration, default=argparse.SUPPRESS, help="e.g. 1d (default 1d)")
    group.add_argument("--window", type=_duration, default=argparse.SUPPRESS, help="alert window (default 15m)")


def _filters(args: argparse.Namespace) -> Any:
    from ..summary.queries import Filters

    return Filters(
        since=getattr(args, "since", None),
        model=args.model,
        agent=args.agent,
        provider=args.provider,
        service=args.service,
    )


def _thresholds(args: argparse.Namespace) -> Any:
    from ..summary.health import Thresholds

    t = Thresholds.from_env()
    for arg, attr in (
        ("error_rate", "error_rate"),
        ("p95_latency", "p95_latency_s"),
        ("max_failures", "max_failures"),
        ("budget", "budget_usd"),
        ("budget_window", "budget_window_s"),
        ("window", "window_s"),
    ):
        if hasattr(args, arg):
            setattr(t, attr, getattr(args, arg))
    return t


def _open(args: argparse.Namespace) -> Any:
    from ..summary.source import open_source

    return open_source(args.store, args.prometheus)


def _summary(args: argparse.Namespace, recent: int = 10) -> Any:
    return _open(args).summary(_filters(args), _thresholds(args), recent=recent, by=getattr(args, "by", None))


def _guarded(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from ..summary.store import StoreMissing

        try:
            return int(handler(args) or 0)
        except StoreMissing as error:
            print(f"agentmetrics {args.command}: {error}", file=sys.stderr)
            return exit_codes.NO_STORE
        except (OSError, ConfigError, ValueError) as error:  # OSError: an unreadable file, Prometheus unreachable
            print(f"agentmetrics {args.command}: {error}", file=sys.stderr)
            return exit_codes.USAGE
        except KeyboardInterrupt:
            return exit_codes.INTERRUPTED

    return run


def report(args: argparse.Namespace) -> int:
    from ..summary.console import print_summary

    print_summary(_summary(args, recent=args.recent))
    _print_evaluations(args)
    return 0


def _print_evaluations(args: argparse.Namespace) -> None:
    """Evaluation results beside the cost of the calls they judge (local store only)."""
    if getattr(args, "prometheus", None):
        return
    import sqlite3

    from ..summary import evaluations, store

    try:
        with store.reading(args.store) as conn:
            since_s = getattr(args, "since", None)
            since_ns = time.time_ns() - int(since_s * 1e9) if since_s else None
            text = evaluations.to_text(evaluations.summarize(conn, since_ns))
    except (OSError, sqlite3.Error):  # StoreMissing and StoreUnreadable are OSErrors
        return
    if text:
        print()
        print(text, end="")


def live(args: argparse.Namespace) -> int:
    from ..summary import console

    if console.have_rich():
        from rich.live import Live

        with Live(console.renderable(_summary(args)), refresh_per_second=4, screen=False) as view:
            while True:
                time.sleep(args.interval)
                view.update(console.renderable(_summary(args)))
    from ..summary.render import to_text

    while True:
        sys.stdout.write("\x1b[H\x1b[2J" + to_text(_summary(args)))
        sys.stdout.flush()
        time.sleep(args.interval)


def export(args: argparse.Namespace) -> int:
    from ..summary import render

    s = _summary(args, recent=args.recent)
    text = {"json": render.to_json, "markdown": render.to_markdown, "csv": render.to_csv}[args.format](s)
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


def alerts(args: argparse.Namespace) -> int:
    """Exit status says the health, for cron and CI: 0 healthy, 1 degraded, 4 unhealthy (2 and 3 are errors)."""
    s = _summary(args, recent=0)
    print(f"health: {s.health.status}")
    for alert in s.health.alerts:
        print(f"[{alert.severity}] {alert.name}: {alert.message}")
    if not s.health.alerts:
        print("no thresholds crossed")
    return {"healthy": exit_codes.OK, "degraded": exit_codes.NO}.get(s.health.status, exit_codes.UNHEALTHY)


def serve(args: argparse.Namespace) -> int:
    from ..summary.dashboard import make_server

    server = make_server(
        args.host,
        args.port,
        args.store,
        token=args.token,
        thresholds=_thresholds(args),
        refresh_s=args.refresh,
        source=_open(args),
        allowed_hosts=tuple(args.allowed_hosts) if args.allowed_hosts else None,
    )
    print(f"agentmetrics dashboard: {server.url}  (JSON: api/summary, Prometheus: metrics, health: health)")
    print("Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def clear(args: argparse.Namespace) -> int:
    from ..summary import store

    with store.reading(args.store) as conn:  # a file without tables yet holds 0 spans
        if not args.yes:
            count = conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
            print(f"{store.resolve_path(args.store)} holds {count} spans; add --yes to delete them")
            return exit_codes.NO
        deleted = store.with_retries(lambda: store.clear(conn, args.older_than))
    print(f"deleted {deleted} spans from {store.resolve_path(args.store)}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="the summary as tables in the terminal",
        description="Calls, tokens, cost, latency and errors recorded in the local store, per model, provider, "
        "agent, tool and endpoint, with health and recent runs, as tables in the terminal.",
    )
    _common(p)
    _alerting(p)
    p.add_argument("--recent", type=int, default=10, help="how many recent runs and errors to list")
    p.set_defaults(handler=_guarded(report))

    p = subparsers.add_parser(
        "live",
        help="the report, refreshed in place",
        description="The report, redrawn in place every few seconds while a program records (Ctrl-C to stop).",
    )
    _common(p)
    _alerting(p)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default: %(default)s)")
    p.set_defaults(handler=_guarded(live))

    p = subparsers.add_parser(
        "export",
        help="the summary as JSON, Markdown or CSV",
        description="The summary the report shows, as JSON, Markdown or CSV, to stdout or a file.",
    )
    _common(p)
    _alerting(p)
    p.add_argument("--format", choices=("json", "markdown", "csv"), default="json", help="(default: %(default)s)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.add_argument("--recent", type=int, default=20, help="how many recent runs and errors to include")
    p.set_defaults(handler=_guarded(export))

    p = subparsers.add_parser(
        "alerts",
        help="health and the thresholds crossed (exit 0 healthy, 1 degraded, 4 unhealthy)",
        description="Health of the last window and every threshold crossed. Exit status: 0 healthy, 1 degraded, "
        "4 unhealthy, 2 bad arguments or configuration, 3 no store.",
    )
    _common(p, window=False)
    _alerting(p)
    p.set_defaults(handler=_guarded(alerts))

    p = subparsers.add_parser(
        "serve",
        help="the HTML dashboard, JSON API, /metrics and /health",
        description="Serve the dashboard of the local store (or of a Prometheus server, --prometheus) over HTTP, "
        "with its JSON API (api/summary), Prometheus metrics (/metrics) and health (/health). Listens on 127.0.0.1 "
        "unless told otherwise.",
    )
    _source(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s; beyond it needs --token)"
    )
    p.add_argument("--port", type=int, default=8765, help="port (default: %(default)s; 0 picks a free one)")
    p.add_argument("--token", help="require this token (default: AGENTMETRICS_DASHBOARD_TOKEN)")
    p.add_argument(
        "--refresh", type=float, default=5.0, help="seconds between page refreshes (default: %(default)s; 0: never)"
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        metavar="NAME",
        help="a host name the browser may use besides the bound address, repeatable "
        "(default: AGENTMETRICS_DASHBOARD_ALLOWED_HOSTS)",
    )
    _alerting(p)
    p.set_defaults(handler=_guarded(serve))

    p = subparsers.add_parser(
        "clear",
        help="delete recorded spans from the store",
        description="Delete recorded spans from the local store, all of them or those older than a duration. "
        "Without --yes it only says how many there are (exit 1).",
    )
    p.add_argument("--store", help="the store file (default: AGENTMETRICS_STORE or the per-user data dir)")
    p.add_argument("--older-than", type=_duration, help="only spans that ended before this long ago (e.g. 7d)")
    p.add_argument("--yes", action="store_true", help="really delete")
    p.set_defaults(handler=_guarded(clear))
