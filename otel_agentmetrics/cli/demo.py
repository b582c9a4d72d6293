"""``agentmetrics demo``: see the whole product in one command, offline.

Starts a local stand-in for the OpenAI and Anthropic APIs, calls ``otel_agentmetrics.instrument()``, runs the demo
agent with the real client libraries, then prints the report and how to open the dashboard. ``--live`` talks to
the real APIs instead (``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``; each provider without a key is skipped).
The demo records to its own store file so it never mixes with your application's data.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from . import exit_codes

DEMO_SERVICE = "agentmetrics-demo"


def demo_store_path() -> Path:
    from ..summary.store import default_store_path

    return default_store_path().parent / "demo.sqlite3"


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def demo(args: argparse.Namespace) -> int:
    out = sys.stdout
    store = Path(args.store) if args.store else demo_store_path()
    _fresh(store)
    from ..summary import store as store_module

    store_module.connect(store).close()  # created here, so the report below is where the path is shown
    # The demo always records to its store, whatever exporters the environment names for real apps; it also
    # exports over OTLP when the standard variables ask for it, so Phoenix, Jaeger or a collector show it too.
    otlp = _otlp_asked()
    os.environ["OTEL_TRACES_EXPORTER"] = "agentmetrics,otlp" if otlp else "agentmetrics"
    if otlp and os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() != "none":
        os.environ["OTEL_METRICS_EXPORTER"] = "otlp"
    else:
        os.environ.pop("OTEL_METRICS_EXPORTER", None)

    import otel_agentmetrics

    # The process's memory and CPU too, when the system-metrics instrumentation is installed ([process] extra).
    with_resources = importlib.util.find_spec("opentelemetry.instrumentation.system_metrics") is not None
    otel_agentmetrics.instrument(store=str(store), service_name=DEMO_SERVICE, process_metrics=with_resources)

    from ..demo.agent import make_clients, run
    from ..demo.server import StandInServer

    with ExitStack() as stack:
        if args.live:
            clients = make_clients(None, None, live=True)
            clients.openai_model, clients.anthropic_model = args.openai_model, args.anthropic_model
            where = "the real OpenAI and Anthropic APIs"
        else:
            server = stack.enter_context(StandInServer(latency=(args.latency / 4, args.latency)))
            clients = make_clients(server.openai_url, server.anthropic_url, live=False)
            where = f"a local stand-in for the OpenAI and Anthropic APIs at {server.base_url} (offline)"
        if clients.openai is None and clients.anthropic is None:
            need = "OPENAI_API_KEY and/or ANTHROPIC_API_KEY" if args.live else "the openai and anthropic packages"
            print(f"agentmetrics demo: nothing to call; install or set {need} (pip install 'otel-agentmetrics[demo]')")
            return exit_codes.USAGE
        out.write(f"Running the demo agent against {where}.\n")
        if otlp:
            out.write(f"Also exporting spans and metrics over OTLP to {otlp}.\n")
        out.write("\n")
        run(clients, args.runs, out)

    _flush()
    out.write("\n")
    return _report(store, args)


def _otlp_asked() -> str | None:
    """Where the standard ``OTEL_*`` variables ask telemetry to go over OTLP (``OTEL_TRACES_EXPORTER`` naming
    ``otlp``, or an OTLP endpoint set), or ``None``."""
    env = os.environ
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    exporters = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    if endpoint or "otlp" in exporters:
        grpc = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")) == "grpc"
        return endpoint or ("http://localhost:4317" if grpc else "http://localhost:4318")
    return None


def _flush() -> None:
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        if hasattr(provider, "force_flush"):
            provider.force_flush()


def _report(store: Path, args: argparse.Namespace) -> int:
    from ..summary.console import print_summary
    from ..summary.queries import summary

    print_summary(summary(store, recent=6))
    command = f"agentmetrics serve --store {store}"
    print()
    print("Open the dashboard:  " + command + "   then visit http://127.0.0.1:8765/")
    print(f"Other views:         agentmetrics report --store {store}   (also: live, export, alerts)")
    print("In your own app:     import otel_agentmetrics; otel_agentmetrics.instrument()   then: agentmetrics report")
    if args.serve:
        from ..summary.dashboard import make_server

        server = make_server("127.0.0.1", args.port, store)
        print(f"\nServing the dashboard at {server.url} (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run a small instrumented agent offline and show what was recorded",
        description="Run a small agent (two models, tool calls, a stream, a failing call) against a local stand-in "
        "for the OpenAI and Anthropic APIs, recorded by instrument() into its own store, then print the report.",
    )
    p.add_argument("--live", action="store_true", help="call the real APIs (needs OPENAI_API_KEY / ANTHROPIC_API_KEY)")
    p.add_argument("--openai-model", default="gpt-4o-mini", help="with --live: the OpenAI model to use")
    p.add_argument("--anthropic-model", default="claude-3-5-haiku-20241022", help="with --live: the Anthropic model")
    p.add_argument("--runs", type=int, default=3, help="how many times to run each agent (default: %(default)s)")
    p.add_argument("--store", help="where to record (default: demo.sqlite3 next to the default store)")
    p.add_argument(
        "--latency", type=float, default=0.3, help="the stand-in's slowest answer, seconds (default: %(default)s)"
    )
    p.add_argument("--serve", action="store_true", help="then serve the dashboard until Ctrl-C")
    p.add_argument("--port", type=int, default=8765, help="dashboard port for --serve (default: %(default)s)")
    p.set_defaults(handler=demo)
