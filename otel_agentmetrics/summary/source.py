"""Where a summary comes from: the local store, or a Prometheus server that scrapes the fleet.

Both answer the same three questions with the same plain data, so the report, the exports, the alerts and the
dashboard render either one the same way; what a source cannot know it lists in ``Summary.absent``.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from .health import Thresholds
from .queries import Filters
from .stats import Point, Summary

PROMETHEUS_ENV = "AGENTMETRICS_PROMETHEUS_URL"


class SummarySource(Protocol):
    location: str
    """The store's path or the Prometheus server's URL, for people to read."""

    def exists(self) -> bool: ...

    def summary(
        self,
        filters: Filters | None = None,
        thresholds: Thresholds | None = None,
        *,
        recent: int = 20,
        by: str | None = None,
        now: float | None = None,
    ) -> Summary: ...

    def timeseries(
        self, filters: Filters | None = None, *, bucket: str | float = "auto", now: float | None = None
    ) -> list[Point]: ...

    def run_detail(self, trace_id: str) -> dict[str, Any]: ...


class StoreSource:
    """The local SQLite store (one machine, every span kept)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        from .store import resolve_path

        self.path = path
        self.location = str(resolve_path(path))

    def exists(self) -> bool:
        return os.path.exists(self.location)

    def summary(
        self,
        filters: Filters | None = None,
        thresholds: Thresholds | None = None,
        *,
        recent: int = 20,
        by: str | None = None,
        now: float | None = None,
    ) -> Summary:
        from .queries import summary

        return summary(self.path, filters, thresholds, recent=recent, by=by, now=now)

    def timeseries(
        self, filters: Filters | None = None, *, bucket: str | float = "auto", now: float | None = None
    ) -> list[Point]:
        from .queries import timeseries

        return timeseries(self.path, filters, bucket=bucket, now=now)

    def run_detail(self, trace_id: str) -> dict[str, Any]:
        from .queries import run_detail

        return run_detail(self.path, trace_id)


def open_source(store: str | os.PathLike[str] | None = None, prometheus: str | None = None) -> SummarySource:
    """Prometheus when ``prometheus`` names a server (or, with no ``store`` given, ``AGENTMETRICS_PROMETHEUS_URL``);
    else the store."""
    url = prometheus or (os.environ.get(PROMETHEUS_ENV) if store is None else None)
    if url:
        from .prometheus_source import PrometheusSource

        return PrometheusSource(url)
    return StoreSource(store)
