"""Attribution: who and what a call was for (user, tenant, feature, endpoint), on every span made inside.

Usage::

    with agentmetrics.attributes(user="u-1", feature="search"):
        answer = agent.run(question)

Keys are used exactly as given, so pick names your backend queries (``enduser.id``, ``tenant``...); pass a
dict for dotted keys: ``attributes({"enduser.id": "u-1"})``. Spans get every key. Metrics get only the keys
listed in ``instrument(metric_attributes=[...])`` (``AGENTMETRICS_METRIC_ATTRIBUTES``), each with at most
``max_attribute_values`` distinct values before later ones are recorded as ``other``: metric labels must stay
low-cardinality, spans need not. Inner blocks add to and override outer ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._runs import Run, Scope, Spec

_VALUE_TYPES = (str, bool, int, float)


class _Attribution(Scope, Run):
    def __init__(self, values: dict[str, Any]) -> None:
        self.span_attributes = values
        self.scope = self


class attributes(Spec):  # noqa: N801 - used like a function
    """Put ``key=value`` attributes on every span started inside the block (or the decorated function)."""

    def __init__(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged = {**(values or {}), **kwargs}
        for key, value in merged.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"attributes: keys must be non-empty strings, got {key!r}")
            if not isinstance(value, _VALUE_TYPES):
                raise TypeError(
                    f"attributes: {key}={value!r} is not a str, bool, int or float; pass str({key}) if it is an id"
                )
        self._values = merged

    def _begin(self) -> Run:
        return _Attribution(self._values)
