"""Attribution values on metrics, with bounded cardinality.

Span attributes may carry any value; a metric label may not, or every new user id becomes a new time series.
Only keys the user allow-lists (``metric_attributes``) reach metrics, each keeps at most
``max_attribute_values`` distinct values, and later values collapse to ``other`` (counted, so the loss shows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from . import _fork
from . import semconv as sc

OTHER = "other"
_EMPTY: dict[str, Any] = {}


class MetricLabels:
    """Picks the allow-listed attribution keys of the active scopes for metric attributes."""

    def __init__(self, meter: Any, keys: Iterable[str] = (), max_values: int = 100) -> None:
        self._overflow = meter.create_counter(
            sc.METRIC_ATTRIBUTE_OVERFLOW,
            unit="{value}",
            description="Attribution values recorded as 'other' because a key reached its distinct-value limit.",
        )
        self._lock = threading.Lock()
        self.configure(keys, max_values)
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def configure(self, keys: Iterable[str], max_values: int) -> None:
        self.keys = tuple(keys)
        self.max_values = max_values
        self._seen: dict[str, set[Any]] = {key: set() for key in self.keys}

    def select(self, scopes: tuple[Any, ...]) -> dict[str, Any]:
        """Metric attributes for a call made inside ``scopes`` (innermost scope wins for a key)."""
        if not self.keys or not scopes:
            return _EMPTY
        out: dict[str, Any] = {}
        for scope in scopes:
            attrs = scope.span_attributes
            if attrs:
                for key in self.keys:
                    if key in attrs:
                        out[key] = attrs[key]
        for key, value in out.items():
            out[key] = self._bounded(key, value)
        return out

    def _bounded(self, key: str, value: Any) -> Any:
        seen = self._seen[key]
        if value in seen:
            return value
        with self._lock:
            if value in seen:
                return value
            if len(seen) < self.max_values:
                seen.add(value)
                return value
        self._overflow.add(1, {sc.ATTRIBUTE_KEY: key})
        return OTHER
