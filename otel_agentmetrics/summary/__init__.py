"""The local summary view: a SQLite store of GenAI spans, summaries, alerts, reports and a dashboard.

::

    from otel_agentmetrics.summary import summary, Filters

    s = summary(filters=Filters(since=3600))     # plain dataclasses; s.to_dict() for JSON
    print(s.overall.calls, s.overall.p95_s, s.overall.cost_usd, s.health.status)

Names load lazily so that importing the exporter (on ``instrument()``'s path) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dashboard import Dashboard, dashboard_app, make_server
    from .exporter import LocalStoreSpanExporter
    from .health import Thresholds
    from .queries import Filters, run_detail, summary, timeseries
    from .stats import Alert, ErrorEntry, Health, Point, Run, Stats, Summary
    from .store import default_store_path

_EXPORTS = {
    "Alert": "stats",
    "Dashboard": "dashboard",
    "ErrorEntry": "stats",
    "Filters": "queries",
    "Health": "stats",
    "LocalStoreSpanExporter": "exporter",
    "Point": "stats",
    "Run": "stats",
    "Stats": "stats",
    "Summary": "stats",
    "Thresholds": "health",
    "dashboard_app": "dashboard",
    "default_store_path": "store",
    "make_server": "dashboard",
    "run_detail": "queries",
    "summary": "queries",
    "timeseries": "queries",
}

__all__ = [
    "Alert",
    "Dashboard",
    "ErrorEntry",
    "Filters",
    "Health",
    "LocalStoreSpanExporter",
    "Point",
    "Run",
    "Stats",
    "Summary",
    "Thresholds",
    "dashboard_app",
    "default_store_path",
    "make_server",
    "run_detail",
    "summary",
    "timeseries",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
