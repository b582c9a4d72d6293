"""Turns a call's token usage into dollars: genai-prices underneath, the user's price file on top.

- :class:`Pricer` prices finished call records for the core (``_telemetry._price``); see ``_pricer.py`` for
  when the table loads and what a call ending before that sees.
- :func:`cost` and :func:`estimate` give the same prices to people who record usage themselves.
- ``docs/pricing.md`` is the user manual (price file format, matching rules, sources).

Nothing here imports genai-prices at import time.
"""

from __future__ import annotations

from ._helpers import Estimate, cost, estimate, use_pricer
from ._overrides import Overrides, load_overrides
from ._pricer import LOAD_WAIT, Pricer, PriceTableLoading, Quote
from ._rates import Cost, Rates

__all__ = [
    "LOAD_WAIT",
    "Cost",
    "Estimate",
    "Overrides",
    "PriceTableLoading",
    "Pricer",
    "Quote",
    "Rates",
    "cost",
    "estimate",
    "load_overrides",
    "use_pricer",
]
