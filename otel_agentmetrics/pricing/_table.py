"""The genai-prices adapter: finds a model in its data and compiles its prices into :class:`Rates`.

Importing genai-prices (and pydantic under it) takes tens to hundreds of milliseconds, so this module imports it
only inside :meth:`PriceTable.load`, which the :class:`~otel_agentmetrics.pricing.Pricer` runs on a background
thread. We never copy its data and never ask it to update itself over the network; a snapshot a user installs
with genai-prices' own ``UpdatePrices`` is used as the package's is.
"""

from __future__ import annotations

import math
import time as _clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ._matching import SELF_HOSTED, genai_provider
from ._rates import Price, Rates

_PRICE_KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
    "reasoning": "output_reasoning_mtok",
}


@dataclass(slots=True)
class TableModel:
    """One model found in the table, with its rates for the current time (prices can change by date or hour)."""

    provider_id: str
    model_id: str
    model_name: str | None
    rates: Rates
    expires: float
    """Epoch seconds at which a dated or time-of-day price may change; ``inf`` for most models."""
    _model: Any
    _context: dict[str, str] | None
    _model_price: Any = None
    _linear: dict[tuple[str, ...], tuple[float, dict[str, float], tuple[tuple[str, str], ...]]] | None = None

    def refresh(self, now: float) -> Rates:
        """Re-resolve the model's prices once their validity window has passed."""
        self.rates, self.expires = _resolve(self._model, self._context, now)
        return self.rates

    def usd_with_details(self, record: Any, details: dict[str, int | float], now: float) -> float | None:
        """A call with usage beyond text tokens (audio, image, characters, seconds), priced with genai-prices'
        own arithmetic (its decomposition: audio input tokens are part of the input and billed at the audio
        price). ``None`` when one of the non-zero details has no price of its own in the table: never priced as
        text.

        genai-prices takes about a millisecond per call for this; a realtime session makes one per response. Its
        price is linear in the counts (each leaf count is a difference of reported counts) unless a price is
        tiered, so for each set of usage keys the per-unit coefficients are derived once from genai-prices itself
        (checked against it on the first call) and later calls are a few multiplications. Counts that do not nest
        (an audio count above the input total) always take genai-prices' own path."""
        from genai_prices.data_units import unit_data

        model_price = self._prices_at(now)
        for name, value in details.items():
            unit = unit_data.get(name)
            if value and (unit is None or getattr(model_price, unit["price_key"], None) is None):
                return None
        usage: dict[str, int | float] = dict(details)  # a reported 0 too: genai-prices needs it to decompose
        for name, value in (
            ("input_tokens", record.input_tokens),
            ("output_tokens", record.output_tokens),
            ("cache_read_tokens", record.cache_read_input_tokens),
            ("cache_write_tokens", record.cache_creation_input_tokens),
        ):
            if value:
                usage[name] = value
        if record.reasoning_output_tokens and model_price.output_reasoning_mtok is not None:
            usage["output_reasoning_tokens"] = record.reasoning_output_tokens
        keys = tuple(sorted(usage))
        linear = self._linear.get(keys) if self._linear is not None else None
        if linear is not None and _nested(usage, linear[2]):
            constant, coefficients, _ = linear
            total = constant + sum(coefficients[name] * value for name, value in usage.items())
            return round(total * 1e12) / 1e12
        exact = _genai_usd(model_price, usage)
        if exact is not None and self._linear is not None and keys not in self._linear:
            pairs = _pairs(keys)
            derived = _linear_prices(model_price, keys) if pairs is not None and _nested(usage, pairs) else None
            if derived is not None and pairs is not None:
                constant, coefficients = derived
                check = constant + sum(coefficients[name] * value for name, value in usage.items())
                if abs(check - exact) <= 1e-12 * max(1.0, exact):
                    self._linear[keys] = (constant, coefficients, pairs)
        return None if exact is None else round(exact * 1e12) / 1e12

    def _prices_at(self, now: float) -> Any:
        if self._model_price is None or now >= self.expires:
            if now >= self.expires:
                self.refresh(now)
            self._model_price = self._model.get_prices(datetime.fromtimestamp(now, UTC), self._context)
            self._linear = None if _tiered(self._model_price) else {}
        return self._model_price


def _genai_usd(model_price: Any, usage: dict[str, int | float]) -> float | None:
    from genai_prices.types import Usage

    try:
        return float(model_price.calc_price(Usage(**usage))["total_price"])
    except ValueError:  # usage genai-prices cannot decompose (a detail without the total it belongs to)
        return None


def _tiered(model_price: Any) -> bool:
    return any(
        value is not None and not isinstance(value, Decimal)
        for key, value in vars(model_price).items()
        if not key.startswith("_")
    )


def _level(name: str) -> int:
    """How deep a usage key nests: totals 0, a kind of token or a modality 1, both 2 (cached audio) ..."""
    from genai_prices.data_units import unit_data

    return max(0, len(unit_data[name]["dimensions"]) - 2)


def _pairs(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """``(detail, total)`` for every two keys where the first is part of the second (cached audio within cached,
    within audio, within input), by genai-prices' unit dimensions; ``None`` for a key it does not know."""
    from genai_prices.data_units import unit_data

    try:
        dims = {name: set(unit_data[name]["dimensions"].items()) for name in keys}
    except KeyError:
        return None
    return tuple((a, b) for a in keys for b in keys if a != b and dims[b] < dims[a])


def _nested(usage: dict[str, int | float], pairs: tuple[tuple[str, str], ...]) -> bool:
    """Each detail within its totals: what keeps genai-prices' decomposition linear (no leaf below 0)."""
    return all(usage[part] <= usage[whole] for part, whole in pairs)


def _linear_prices(model_price: Any, keys: tuple[str, ...]) -> tuple[float, dict[str, float]] | None:
    """The constant and per-unit price of each key, from genai-prices at a point where every count nests well
    inside its parent (totals 10^9, kinds and modalities 10^6, both 10^3) and at that point plus one of each."""
    try:
        base = {name: 10 ** (9 - 3 * _level(name)) for name in keys}
    except KeyError:
        return None
    at_base = _genai_usd_decimal(model_price, base)
    if at_base is None:
        return None
    coefficients: dict[str, float] = {}
    constant = at_base
    for name in keys:
        moved = _genai_usd_decimal(model_price, {**base, name: base[name] + 1})
        if moved is None:
            return None
        coefficients[name] = float(moved - at_base)
        constant -= (moved - at_base) * base[name]
    return float(constant), coefficients


def _genai_usd_decimal(model_price: Any, usage: dict[str, int]) -> Decimal | None:
    from genai_prices.types import Usage

    try:
        return Decimal(model_price.calc_price(Usage(**usage))["total_price"])
    except ValueError:
        return None


class PriceTable:
    """genai-prices' data snapshot, loaded once."""

    def __init__(self) -> None:
        import genai_prices
        from genai_prices import data_snapshot

        self.version: str = genai_prices.__version__
        self.source = f"genai-prices=={self.version}"
        self._snapshot = data_snapshot.get_snapshot()

    def find(
        self,
        provider: str | None,
        model: str,
        server_address: str | None = None,
        service_tier: str | None = None,
        processing: str | None = None,
    ) -> TableModel | None:
        """The model as ``provider`` bills it. A provider genai-prices does not know is found by its API host,
        then, unless it is a self-hosted server, by the model's name alone (gateways pass upstream names).
        ``service_tier`` and ``processing`` (``"batch"``) are genai-prices' price context: its own variants."""
        snapshot = self._snapshot
        provider_id = genai_provider(provider)
        url = f"https://{server_address}" if server_address else None
        try:
            if provider_id is not None and self._knows(provider_id, None):
                found = snapshot.find_provider_model(model, None, provider_id, None)
            elif url is not None and self._knows(None, url):
                found = snapshot.find_provider_model(model, None, None, url)
            elif provider_id not in SELF_HOSTED:
                found = snapshot.find_provider_model(model, None, None, None)
            else:
                return None
        except LookupError:
            misses = getattr(snapshot, "_provider_misses", None)
            if isinstance(misses, set) and len(misses) > _MAX_MISSES:
                misses.clear()  # genai-prices remembers every name it could not place: made-up names would grow it
            return None
        table_provider, model_info = found
        context: dict[str, str] | None = {}
        if service_tier:
            context["service_tier"] = service_tier  # type: ignore[index]
        if processing:
            context["processing"] = processing  # type: ignore[index]
        context = context or None
        if context and not any(model_info is m for m in table_provider.models):
            context = None  # genai-prices applies tier variants only to the provider's own models
        rates, expires = _resolve(model_info, context, _clock.time())
        return TableModel(table_provider.id, model_info.id, model_info.name, rates, expires, model_info, context)

    def _knows(self, provider_id: str | None, url: str | None) -> bool:
        try:
            self._snapshot.find_provider(None, provider_id, url)
        except LookupError:
            return False
        return True


_MAX_MISSES = 1000


def _resolve(model: Any, context: dict[str, str] | None, now: float) -> tuple[Rates, float]:
    moment = datetime.fromtimestamp(now, UTC)
    return compile_price(model.get_prices(moment, context)), _next_change(model, moment)


def compile_price(model_price: Any) -> Rates:
    """genai-prices' ``ModelPrice`` (Decimals, tiers) as :class:`Rates` (floats)."""
    values: dict[str, Price | None] = {
        kind: _float_price(getattr(model_price, key)) for kind, key in _PRICE_KEYS.items()
    }
    per_thousand = model_price.requests_kcount
    per_request = 0.0
    if per_thousand is not None:
        base = per_thousand.base if hasattr(per_thousand, "tiers") else per_thousand
        per_request = float(base) / 1000
    return Rates(per_request=per_request, **values)


def _float_price(value: Any) -> Price | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return (float(value.base), tuple((int(tier.start), float(tier.price)) for tier in value.tiers))


def _next_change(model: Any, moment: datetime) -> float:
    """When the model's active price may next change: the next start date of a dated price, the next edge of a
    time-of-day price (off-peak hours), or never."""
    constraints = [price.constraint for price in model.prices] if isinstance(model.prices, list) else []
    constraints += [variant.constraint for variant in model.price_variants or ()]
    soonest = math.inf
    for constraint in constraints:
        if constraint is None:
            continue
        if hasattr(constraint, "start_date"):
            start = datetime.combine(constraint.start_date, time(0), UTC)
            if start > moment:
                soonest = min(soonest, start.timestamp())
        else:
            for edge in (constraint.start_time, constraint.end_time):
                soonest = min(soonest, _next_time_of_day(edge, moment).timestamp())
    return soonest


def _next_time_of_day(edge: time, moment: datetime) -> datetime:
    if edge.tzinfo is None:
        edge = edge.replace(tzinfo=UTC)
    today: date = moment.date()
    candidate = datetime.combine(today, edge).astimezone(UTC)
    while candidate <= moment:
        candidate += timedelta(days=1)
    return candidate
