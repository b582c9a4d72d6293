"""``cost()`` and ``estimate()``: the SDK's prices for people who record usage themselves or plan a budget."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .. import _fork
from ._pricer import Pricer, Quote

_pricers: dict[str | None, Pricer] = {}
_lock = threading.Lock()
_active: Pricer | None = None


def use_pricer(pricer: Pricer | None) -> None:
    """Make ``pricer`` the one :func:`cost` uses by default (``instrument()`` hands over its own, so its price file
    applies; ``None`` goes back to one pricer per price file). Set from start-up, so pricing never imports it."""
    global _active
    _active = pricer


@_fork.on_fork_in_child
def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


def _pricer(prices: str | os.PathLike[str] | None) -> Pricer:
    """The pricer of the running ``instrument()`` (so its price file applies), else one per price file."""
    if prices is None:
        active = _active
        if active is not None:
            return active
        prices = os.environ.get("AGENTMETRICS_PRICES") or None
    key = os.fspath(prices) if prices is not None else None
    with _lock:
        pricer = _pricers.get(key)
        if pricer is None:
            pricer = _pricers[key] = Pricer(key)
    return pricer


def _quote(model: str, provider: str | None, prices: str | os.PathLike[str] | None) -> Quote | None:
    pricer = _pricer(prices)
    pricer.load()
    return pricer.quote(model, provider)


def cost(
    model: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    *,
    provider: str | None = None,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    prices: str | os.PathLike[str] | None = None,
    input_audio_tokens: int = 0,
    output_audio_tokens: int = 0,
    cache_audio_read_tokens: int = 0,
    processing: str | None = None,
) -> float | None:
    """The cost in USD of one call's usage, priced exactly as instrumented calls are; ``None`` (never 0) when the
    model has no known price.

    Tokens are counted the OpenAI way: ``input_tokens`` includes the cached (``cache_read_tokens``) and
    cache-written (``cache_write_tokens``) ones, ``output_tokens`` includes ``reasoning_tokens``. ``provider``
    (``openai``, ``anthropic``, ``aws.bedrock`` ...) picks whose price applies; without it the provider is guessed
    from the model's name. ``prices`` is a price file; by default the one given to ``instrument()`` or
    ``AGENTMETRICS_PRICES``. Audio tokens (``input_audio_tokens``, ``output_audio_tokens``,
    ``cache_audio_read_tokens``, each part of its total) are priced at the model's audio rates, and the call is
    unpriced (``None``) when it has none; ``processing="batch"`` gives the batch price. The first call loads the
    price table (a few tens of milliseconds).

    Example::

        >>> cost("gpt-4o-mini", input_tokens=1000, output_tokens=500, provider="openai")
        0.00045
    """
    details: dict[str, int | float] = {
        name: count
        for name, count in (
            ("input_audio_tokens", input_audio_tokens),
            ("output_audio_tokens", output_audio_tokens),
            ("cache_audio_read_tokens", cache_audio_read_tokens),
        )
        if count
    }
    if details or processing:
        return _priced_record(model, provider, prices, details, processing, input_tokens, output_tokens,
                              cache_read_tokens, cache_write_tokens, reasoning_tokens)  # fmt: skip
    quote = _quote(model, provider, prices)
    if quote is None:
        return None
    return quote.rates.usd(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens)


def _priced_record(
    model: str,
    provider: str | None,
    prices: str | os.PathLike[str] | None,
    details: dict[str, int | float],
    processing: str | None,
    *counts: int,
) -> float | None:
    """Audio tokens or a batch: priced as an instrumented call with that usage is (the record's slow path)."""
    from ..record import CallRecord

    pricer = _pricer(prices)
    pricer.load()
    if provider is None:
        quote = pricer.quote(model)
        if quote is None:
            return None
        provider = quote.provider
    record = CallRecord("chat", provider or "", request_model=model, processing=processing)
    (
        record.input_tokens,
        record.output_tokens,
        record.cache_read_input_tokens,
        record.cache_creation_input_tokens,
        record.reasoning_output_tokens,
    ) = counts
    record.usage_details = details or None
    found = pricer.price(record)
    return None if found is None else found.usd


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a steady workload costs, in USD."""

    model: str
    per_request: float
    per_day: float
    per_month: float
    days_per_month: int
    source: str


def estimate(
    model: str,
    *,
    requests_per_day: float,
    input_tokens: int,
    output_tokens: int,
    provider: str | None = None,
    cache_read_tokens: int = 0,
    days_per_month: int = 30,
    prices: str | os.PathLike[str] | None = None,
) -> Estimate | None:
    """Monthly cost of ``requests_per_day`` calls averaging ``input_tokens`` in and ``output_tokens`` out (of which
    ``cache_read_tokens`` are cached reads); ``None`` when the model has no known price.

    Example::

        >>> estimate("gpt-4o-mini", requests_per_day=1000, input_tokens=500, output_tokens=200).per_month
        5.85
    """
    if requests_per_day < 0 or input_tokens < 0 or output_tokens < 0 or cache_read_tokens < 0 or days_per_month < 1:
        raise ValueError("estimate(): counts must be >= 0 and days_per_month >= 1")
    quote = _quote(model, provider, prices)
    if quote is None:
        return None
    per_request = quote.rates.usd(input_tokens, output_tokens, cache_read_tokens)
    per_day = round(per_request * requests_per_day, 10)
    return Estimate(
        model=quote.model,
        per_request=per_request,
        per_day=per_day,
        per_month=round(per_day * days_per_month, 10),
        days_per_month=days_per_month,
        source=quote.source,
    )
