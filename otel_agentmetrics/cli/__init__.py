"""The ``agentmetrics`` command. Each subcommand lives in its own module with a ``register(subparsers)``.

Exit statuses are listed in :mod:`otel_agentmetrics.cli.exit_codes` (and docs/summary.md).
"""

from __future__ import annotations

import argparse
import difflib
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


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    return [
        name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices
    ]


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parse_args``, except that a mistyped option gets the usage of the subcommand it was given to (not the
    top-level one) and the closest option's name, and a mistyped command the closest command's."""
    tokens = sys.argv[1:] if argv is None else argv
    commands = _commands(parser)
    first = next((token for token in tokens if not token.startswith("-")), None)
    if first is not None and first not in commands and tokens and tokens[0] == first:
        parser.error(f"unknown command {first!r}{_did_you_mean(first, commands)}; use one of {', '.join(commands)}")
    args, extra = parser.parse_known_args(tokens)
    if extra:
        target = _subparser(parser, getattr(args, "command", None)) or parser
        options = [option for action in target._actions for option in action.option_strings]
        hints = [
            _did_you_mean(token.split("=", 1)[0], options).strip(" ()")
            for token in extra
            if token.startswith("-") and _did_you_mean(token.split("=", 1)[0], options)
        ]
        target.error(f"unrecognized arguments: {' '.join(extra)}" + (f" ({'; '.join(hints)})" if hints else ""))
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
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
