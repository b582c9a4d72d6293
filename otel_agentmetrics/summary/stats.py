"""Plain-data results of the summary API and the arithmetic that fills them (percentiles, rates)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on values sorted ascending."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(slots=True)
class Stats:
    """Counts, latency and usage of a set of calls, tool runs, agent runs or requests."""

    name: str = ""
    calls: int = 0
    successful: int = 0
    failed: int = 0
    success_rate: float | None = None
    error_rate: float | None = None
    avg_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        return data


def timing(stats: Stats, rows: Iterable[dict[str, Any]]) -> Stats:
    """Fill counts and latency from rows that have ``ok`` and ``duration_s``."""
    durations: list[float] = []
    for row in rows:
        stats.calls += 1
        if row["ok"]:
            stats.successful += 1
        else:
            stats.failed += 1
        durations.append(row["duration_s"])
    if stats.calls:
        stats.success_rate = stats.successful / stats.calls
        stats.error_rate = stats.failed / stats.calls
        durations.sort()
        stats.avg_s = sum(durations) / len(durations)
        stats.p50_s = percentile(durations, 0.50)
        stats.p95_s = percentile(durations, 0.95)
        stats.p99_s = percentile(durations, 0.99)
        stats.max_s = durations[-1]
    return stats


def usage(stats: Stats, calls: Iterable[dict[str, Any]]) -> Stats:
    """Add the tokens and dollars of model-call rows."""
    for row in calls:
        stats.model_calls += 1
        stats.input_tokens += row["input_tokens"] or 0
        stats.output_tokens += row["output_tokens"] or 0
        stats.cached_tokens += row["cache_read_tokens"] or 0
        stats.reasoning_tokens += row["reasoning_tokens"] or 0
        if row["cost"] is not None:
            stats.cost_usd += row["cost"]
        elif row["input_tokens"] is not None or row["output_tokens"] is not None:
            stats.unpriced_calls += 1
    return stats


@dataclass(slots=True)
class Run:
    """One agent run or one web request, with the model calls made inside it."""

    kind: str  # "agent" | "request"
    name: str
    trace_id: str
    started_at: float
    duration_s: float
    ok: bool
    error_type: str | None
    model_calls: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    retrievals: int = 0
    """Retrievals (store queries, retriever calls) inside the run."""


@dataclass(slots=True)
class RetrievalStats:
    """The store operations of one operation, store and collection: calls, latency, rows and errors."""

    operation: str
    store: str
    collection: str | None
    calls: int = 0
    failed: int = 0
    error_rate: float | None = None
    avg_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    rows: int | None = None
    """Rows returned (written, for a write) in all, when the store reported them; ``None`` when none did."""

    @property
    def name(self) -> str:
        return f"{self.store} {self.collection}" if self.collection else self.store


def retrieval_stats(operation: str, store: str, collection: str | None, rows: list[dict[str, Any]]) -> RetrievalStats:
    """Fill a :class:`RetrievalStats` from store rows (``ok``, ``duration_s``, ``returned_rows``)."""
    timed = timing(Stats(), rows)
    counted = [r["returned_rows"] for r in rows if r["returned_rows"] is not None]
    return RetrievalStats(
        operation=operation,
        store=store,
        collection=collection,
        calls=timed.calls,
        failed=timed.failed,
        error_rate=timed.error_rate,
        avg_s=timed.avg_s,
        p50_s=timed.p50_s,
        p95_s=timed.p95_s,
        max_s=timed.max_s,
        rows=sum(counted) if counted else None,
    )


@dataclass(slots=True)
class ErrorEntry:
    """One failed model call, tool run, agent run or request."""

    at: float
    kind: str
    name: str
    error_type: str
    message: str | None
    trace_id: str


@dataclass(slots=True)
class ErrorGroup:
    """Failures of one ``error.type`` in one place (a model, tool, agent or endpoint), most frequent first."""

    error_type: str
    kind: str
    name: str
    count: int
    last_at: float | None  # None from a source that keeps counts only (Prometheus)
    last_message: str | None


@dataclass(slots=True)
class Alert:
    """A threshold the data crossed. ``severity`` is ``warning`` or ``critical``."""

    name: str
    severity: str
    message: str
    value: float
    threshold: float


@dataclass(slots=True)
class Health:
    status: str  # "healthy" | "degraded" | "unhealthy"
    alerts: list[Alert] = field(default_factory=list)
    window_s: float = 0.0


@dataclass(slots=True)
class ProcessStats:
    """One running process's own resources: resident memory and CPU (with ``process_metrics=True``, or from
    Prometheus's process collector)."""

    name: str  # host:pid from the store, the scraped address from Prometheus
    service: str | None
    uptime_s: float | None
    memory_bytes: int | None
    cpu_seconds: float | None
    cpu_utilization: float | None
    """CPU seconds per second (1.0 = one core busy): since start from the store, over 5 minutes from Prometheus."""


@dataclass(slots=True)
class Point:
    """One bucket of a time series (``t`` is the bucket start, Unix seconds)."""

    t: float
    calls: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    avg_s: float | None = None


@dataclass(slots=True)
class Summary:
    """Everything the report, the exports and the dashboard show."""

    generated_at: float
    store: str
    since: float | None
    uptime_s: float | None
    active_calls: int
    dropped_spans: int
    overall: Stats
    models_used: list[str]
    by_model: list[Stats]
    by_provider: list[Stats]
    by_tool: list[Stats]
    by_agent: list[Stats]
    by_endpoint: list[Stats]
    recent_runs: list[Run]
    recent_errors: list[ErrorEntry]
    error_types: list[ErrorGroup]
    health: Health
    filters: dict[str, str] = field(default_factory=dict)
    source: str = "store"
    """``store`` (the local SQLite file at ``store``) or ``prometheus`` (the server at ``store``)."""
    by_instance: list[Stats] = field(default_factory=list)
    """Model calls per value of ``instance_label`` (``service.name``, ``service.instance.id``, ``host``)."""
    instance_label: str | None = None
    processes: list[ProcessStats] = field(default_factory=list)
    """The running processes' memory and CPU, when they report them."""
    export_dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    """Telemetry the writers could not deliver to other destinations, by signal and destination:
    ``{"traces": {"otlp": 12}}`` (an OTLP collector down or refusing, its queue full)."""
    by_retrieval: list[RetrievalStats] = field(default_factory=list)
    """Store operations (retrievals first, then writes and memory) by operation, store and collection."""
    by_processing: list[Stats] = field(default_factory=list)
    """Model calls by how they were processed (``batch``, ``interactive``): only when some were batch results, so
    batch spend shows apart from interactive spend."""
    absent: list[str] = field(default_factory=list)
    """What this source cannot know (``recent_runs``, ``recent_errors`` ... from Prometheus): shown as absent,
    never as zero."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("overall",):
            data[key] = self.overall.to_dict()
        for key in ("by_model", "by_provider", "by_tool", "by_agent", "by_endpoint", "by_instance", "by_processing"):
            data[key] = [s.to_dict() for s in getattr(self, key)]
        return data
