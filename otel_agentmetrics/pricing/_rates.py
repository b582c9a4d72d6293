"""Rates: the prices of one model as plain floats, and the arithmetic that turns a call's tokens into dollars.

genai-prices keeps prices as ``Decimal`` and resolves units on every call (tens of microseconds); a call's cost
is needed on the hot path, so each model's prices are compiled once into a :class:`Rates` and priced here with a
handful of float multiplications. The arithmetic mirrors genai-prices': cached and cache-write tokens are part of
the input count and are billed at their own price when the model has one (at the input price otherwise);
reasoning tokens are part of the output count likewise; a tier's price applies to every token of its kind once
the call's input tokens pass the tier's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Tiered = tuple[float, tuple[tuple[int, float], ...]]
"""``(base price, ((threshold, price), ...))``: the tier with the highest threshold below the input wins."""
Price = float | Tiered

_MILLION = 1_000_000
_PICO = 1e12


@dataclass(frozen=True, slots=True)
class Cost:
    """A call's cost in US dollars and where the price came from (``genai-prices==X``, ``override``, ``provider``)."""

    usd: float
    source: str


Flat = tuple[float | None, float | None, float | None, float | None, float | None]


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens of each kind (``None``: not priced apart) and USD per request."""

    input: Price | None = None
    output: Price | None = None
    cache_read: Price | None = None
    cache_write: Price | None = None
    reasoning: Price | None = None
    per_request: float = 0.0
    _flat: Flat | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Untiered rates (nearly all) are kept as one tuple of floats so usd() does no per-kind dispatch.
        if not self.tiered:
            object.__setattr__(self, "_flat", self._at(0))

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
        flat = self._flat
        inp, out, cache_read, cache_write, reasoning = flat if flat is not None else self._at(input_tokens)
        total = 0.0
        plain_input = input_tokens
        if cache_read is not None:
            total += cache_read_tokens * cache_read
            plain_input -= cache_read_tokens
        if cache_write is not None:
            total += cache_write_tokens * cache_write
            plain_input -= cache_write_tokens
        if inp is not None and plain_input > 0:
            total += plain_input * inp
        plain_output = output_tokens
        if reasoning is not None:
            total += reasoning_tokens * reasoning
            plain_output -= reasoning_tokens
        if out is not None and plain_output > 0:
            total += plain_output * out
        # Rounded to 1e-12 USD (the nearest double to a whole number of picodollars), which keeps float artefacts
        # such as 4.800000000000001e-06 out of exported values; round(x, 12) would cost 0.7 us, this 0.05.
        return round((total / _MILLION + self.per_request) * _PICO) / _PICO

    def _at(self, input_tokens: int) -> Flat:
        """Each kind's price per million for a call with this many input tokens (tiers resolved)."""
        return (
            _at(self.input, input_tokens),
            _at(self.output, input_tokens),
            _at(self.cache_read, input_tokens),
            _at(self.cache_write, input_tokens),
            _at(self.reasoning, input_tokens),
        )


def _at(price: Price | None, input_tokens: int) -> float | None:
    if price is None or isinstance(price, float):
        return price
    base, tiers = price
    for start, tier_price in reversed(tiers):
        if input_tokens > start:
            return tier_price
    return base
