"""``agentmetrics prices`` and ``agentmetrics estimate``: the price the SDK uses, a price file check, a budget.

agentmetrics prices gpt-4o-mini --provider openai
agentmetrics prices --check prices.toml
agentmetrics estimate gpt-4o-mini --requests-per-day 1000 --input-tokens 500 --output-tokens 200
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._config import ConfigError
from . import exit_codes

_KINDS = (
    ("input", "input"),
    ("cache_read", "cache read"),
    ("cache_write", "cache write"),
    ("output", "output"),
    ("reasoning", "reasoning"),
)


def register(subparsers: Any) -> None:
    prices = subparsers.add_parser(
        "prices",
        help="show the price used for a model, or check a price file (exit 1: none known / invalid)",
        description="Show the price the SDK uses for MODEL and where it comes from, or check a price file.",
    )
    prices.add_argument("model", nargs="?", metavar="MODEL", help="model name as your client sends or receives it")
    prices.add_argument("--provider", help="provider name (openai, anthropic, aws.bedrock ...); guessed if left out")
    prices.add_argument("--prices", metavar="FILE", help="price file to apply (default: AGENTMETRICS_PRICES)")
    prices.add_argument("--check", metavar="FILE", help="validate a TOML or JSON price file and exit")
    prices.set_defaults(handler=_prices)

    estimate = subparsers.add_parser(
        "estimate",
        help="monthly cost of a workload",
        description="Cost per request, day and month of a steady workload on MODEL.",
    )
    estimate.add_argument("model", metavar="MODEL")
    estimate.add_argument("--requests-per-day", type=_non_negative(float), required=True, metavar="N")
    estimate.add_argument("--input-tokens", type=_non_negative(int), required=True, metavar="N", help="average")
    estimate.add_argument("--output-tokens", type=_non_negative(int), required=True, metavar="N", help="average")
    estimate.add_argument(
        "--cache-read-tokens", type=_non_negative(int), default=0, metavar="N", help="average cached input tokens"
    )
    estimate.add_argument("--days", type=_non_negative(int), default=30, metavar="N", help="days per month (30)")
    estimate.add_argument("--provider", help="provider name; guessed from the model if left out")
    estimate.add_argument("--prices", metavar="FILE", help="price file to apply (default: AGENTMETRICS_PRICES)")
    estimate.set_defaults(handler=_estimate)


def _non_negative(kind: type[Any]) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
        return value

    return parse


def _prices(args: argparse.Namespace) -> int:
    from ..pricing import Pricer, load_overrides

    if args.check:
        try:
            overrides = load_overrides(args.check)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return exit_codes.NO  # the answer to --check, not a usage error
        print(f"{args.check}: ok, {len(overrides)} price entr{'y' if len(overrides) == 1 else 'ies'}")
        return 0
    if not args.model:
        print("error: give a MODEL, or --check FILE", file=sys.stderr)
        return exit_codes.USAGE
    pricer = Pricer(args.prices or os.environ.get("AGENTMETRICS_PRICES") or None)  # ConfigError: main() says it
    pricer.load()
    quote = pricer.quote(args.model, args.provider)
    if quote is None:
        print(_unknown(args.model, args.provider), file=sys.stderr)
        return exit_codes.NO
    provider = f", provider {quote.provider}" if quote.provider else ""
    print(f"model        {args.model} (priced as {quote.matched}{provider})")
    print(f"source       {quote.source}")
    rates = quote.rates
    for attribute, label in _KINDS:
        value = getattr(rates, attribute)
        if value is not None:
            print(f"{label:<12} {_per_million(value)}")
    if rates.per_request:
        print(f"{'per request':<12} ${_number(rates.per_request)}")
    return 0


def _estimate(args: argparse.Namespace) -> int:
    from ..pricing import estimate

    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return exit_codes.USAGE
    result = estimate(  # ConfigError (a bad price file): main() says it, exit 2
        args.model,
        requests_per_day=args.requests_per_day,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        cache_read_tokens=args.cache_read_tokens,
        provider=args.provider,
        days_per_month=args.days,
        prices=args.prices,
    )
    if result is None:
        print(_unknown(args.model, args.provider), file=sys.stderr)
        return exit_codes.NO
    print(f"model        {args.model} ({result.source})")
    print(f"per request  ${_number(result.per_request)}")
    print(f"per day      ${result.per_day:,.2f}  ({_number(args.requests_per_day)} requests)")
    print(f"per month    ${result.per_month:,.2f}  ({result.days_per_month} days)")
    return 0


def _unknown(model: str, provider: str | None) -> str:
    of = f" of provider {provider!r}" if provider else ""
    return (
        f"no price known for model {model!r}{of}; check the name, pass --provider, "
        "or add it to a price file (docs/pricing.md)"
    )


def _per_million(value: Any) -> str:
    if isinstance(value, tuple):
        base, tiers = value
        steps = ", ".join(f"${_number(price)} above {start:,} input tokens" for start, price in tiers)
        return f"${_number(base)} / 1M tokens ({steps})"
    return f"${_number(value)} / 1M tokens"


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"
