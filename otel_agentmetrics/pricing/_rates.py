"""Rates: the prices of one model as plain floats, and the arithmetic that turns a call's tokens into dollars.

genai-prices keeps prices as ``Decimal`` and resolves units on every call (tens of microseconds); a call's cost
is needed on the hot path, so each model's prices are compiled once into a :class:`Rates` and priced here with a
handful of float multiplications. The arithmetic mirrors genai-prices': cached and cache-write tokens are part of
the input count and are billed at their own price when the model has one (at the input price otherwise);
reasoning tokens are part of the output count likewise; a tier's price applies to every token of its kind once
the call's input tokens pass the tier's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

Tiered = tuple[float, tuple[tuple[int, float], ...]]
"""``(base price, ((threshold, price), ...))``: the tier with the highest threshold below the input wins."""
Price = float | Tiered

_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Cost:
    """A call's cost in US dollars and where the price came from (``genai-prices==X``, ``override``, ``provider``)."""

    usd: float
    source: str


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens of each kind (``None``: not priced apart) and USD per request."""

    input: Price | None = None
    output: Price | None = None
    cache_read: Price | None = None
    cache_write: Price | None = None
    reasoning: Price | None = None
    per_request: float = 0.0

    @property
    def tiered(self) -> bool:
        return any(
            isinstance(p, tuple) for p in (self.input, self.output, self.cache_read, self.cache_write, self.reasoning)
        )

    def usd(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> float:
        """The dollars for one call. ``input_tokens`` counts all input (cached included), ``output_tokens`` all
        output (reasoning included)."""
        total = 0.0
        plain_input = input_tokens
        if self.cache_read is not None:
            total += cache_read_tokens * _at(self.cache_read, input_tokens)
            plain_input -= cache_read_tokens
        if self.cache_write is not None:
            total += cache_write_tokens * _at(self.cache_write, input_tokens)
            plain_input -= cache_write_tokens
        if self.input is not None and plain_input > 0:
            total += plain_input * _at(self.input, input_tokens)
        plain_output = output_tokens
        if self.reasoning is not None:
            total += reasoning_tokens * _at(self.reasoning, input_tokens)
            plain_output -= reasoning_tokens
        if self.output is not None and plain_output > 0:
            total += plain_output * _at(self.output, input_tokens)
        # Rounded to a millionth of a cent's millionth: keeps 0.1 + 0.2 artefacts out of exported values.
        return round(total / _MILLION + self.per_request, 12)


def _at(price: Price, input_tokens: int) -> float:
    if type(price) is float:
        return price
    base, tiers = price  # type: ignore[misc]
    for start, tier_price in reversed(tiers):
        if input_tokens > start:
            return tier_price
    return base
