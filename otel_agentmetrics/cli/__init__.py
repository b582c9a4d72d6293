"""The ``agentmetrics`` command. Each subcommand lives in its own module with a ``register(subparsers)``.

Exit statuses are listed in :mod:`otel_agentmetrics.cli.exit_codes` (and docs/summary.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._config import ConfigError
from ..version import __version__
from . import exit_codes

# Modules that add subcommands; one job each. A module that cannot import (a missing extra) is skipped.
_COMMAND_MODULES = (
    "otel_agentmetrics.cli.prices",
    "otel_agentmetrics.cli.summary",
    "otel_agentmetrics.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentmetrics",
        description="Costs, tokens and latency of your AI agents, from the local store that instrument() records to.",
        epilog="Exit status: 0 done, 1 the answer is no (alerts: degraded; prices: none known), 2 bad arguments or "
        "configuration, 3 no store, 4 alerts: unhealthy. 'agentmetrics COMMAND --help' for each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return exit_codes.USAGE
    try:
        return int(handler(args) or 0)
    except ConfigError as error:  # a bad setting is one line naming the fix, not a traceback
        print(f"agentmetrics {args.command}: {error}", file=sys.stderr)
        return exit_codes.USAGE


if __name__ == "__main__":
    sys.exit(main())
