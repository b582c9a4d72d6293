"""The summary API: read the store and return plain data (``Summary``, ``Point`` ...), nothing rendered.

A model call belongs to the agent run whose span encloses it in the same trace (or whose name it carries as
``gen_ai.agent.name``), and to the endpoint (``http.route``) of the web request span of its trace.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import store
from .health import Thresholds, evaluate
from .stats import (
    ErrorEntry,
    ErrorGroup,
    Health,
    Point,
    ProcessStats,
    RetrievalStats,
    Run,
    Stats,
    Summary,
    retrieval_stats,
    timing,
    usage,
)

_LIVE_WRITER_S = 300.0
"""A writer seen within this many seconds counts as running (uptime, calls in flight)."""


@dataclass(slots=True)
class Filters:
    """What to summarise: a time window (seconds back from now) and optional model/agent/provider/service."""

    since: float | None = None
    model: str | None = None
    agent: str | None = None
    provider: str | None = None
    service: str | None = None

    def describe(self) -> dict[str, str]:
        pairs = (
            ("since_s", self.since),
            ("model", self.model),
            ("agent", self.agent),
            ("provider", self.provider),
            ("service", self.service),
        )
        return {k: str(v) for k, v in pairs if v is not None}


_COLUMNS = (
    "trace_id, span_id, kind, name, start_ns, end_ns, duration_s, ok, error_type, error_message, provider, "
    "request_model, response_model, tool_name, agent_name, route, input_tokens, output_tokens, cache_read_tokens, "
    "reasoning_tokens, cost, service, operation, db_system, collection, returned_rows, processing, parent_id"
)

INSTANCE_LABELS = ("service.name", "service.instance.id", "host")
"""What ``by=`` may group model calls by; the store records ``service.name`` only."""

Rows = dict[str, list[dict[str, Any]]]


def _load(conn: sqlite3.Connection, since_ns: int | None, service: str | None) -> Rows:
    """Every kept span that ended after ``since_ns``, by kind, oldest first, as plain dicts."""
    where = ["end_ns >= ?"]
    params: list[Any] = [since_ns if since_ns is not None else -(2**62)]
    if service is not None:
        where.append("service = ?")
        params.append(service)
    columns = store.span_columns(conn, _COLUMNS)
    cursor = conn.execute(f"SELECT {columns} FROM spans WHERE {' AND '.join(where)} ORDER BY end_ns", params)
    names = [d[0] for d in cursor.description]
    rows: Rows = {"model": [], "tool": [], "agent": [], "request": [], "retrieval": []}
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        if row["kind"] == "model":
            row["model"] = row["response_model"] or row["request_model"] or "unknown"
        elif row["kind"] == "retrieval":
            row["store"] = row["db_system"] or "unknown"
            row["label"] = f"{row['store']} {row['collection']}" if row["collection"] else row["store"]
        rows.setdefault(row["kind"], []).append(row)
    return rows


def _after(rows: list[dict[str, Any]], since_ns: int | None) -> list[dict[str, Any]]:
    return rows if since_ns is None else [r for r in rows if r["end_ns"] >= since_ns]


def _grouped(
    rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], str | None]
) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        name = key(row)
        if name is not None:
            groups[name].append(row)
    return groups


def _inside(row: dict[str, Any], run: dict[str, Any]) -> bool:
    return run["start_ns"] <= row["start_ns"] and row["end_ns"] <= run["end_ns"] and row is not run


def _enclosed(runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """For each run (by span id), the rows of its trace that ran inside it: nested runs count in every
    enclosing run, as the agent roll-up attributes do."""
    by_trace = _grouped(rows, lambda r: r["trace_id"])
    return {run["span_id"]: [r for r in by_trace.get(run["trace_id"], ()) if _inside(r, run)] for run in runs}


def _unique(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({(r["trace_id"], r["span_id"]): r for r in rows}.values())


def _one_run_per_remote_call(agents: list[dict[str, Any]], requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent runs without the server's run of an A2A call whose caller's ``invoke_agent`` span is in the store
    too (both processes write to one store): one run per call, the caller's, as for a nested run of the same name.
    The server's request row between the two stays, as the agent's endpoint."""
    served = {(r["trace_id"], r["span_id"]): r for r in requests if (r["route"] or "").startswith("A2A ")}
    if not served:
        return agents
    runs = {(r["trace_id"], r["span_id"]): r for r in agents}

    def called(run: dict[str, Any]) -> bool:
        request = served.get((run["trace_id"], run["parent_id"]))
        caller = runs.get((run["trace_id"], request["parent_id"])) if request is not None else None
        return caller is not None and (caller["agent_name"] or caller["name"]) == (run["agent_name"] or run["name"])

    return [run for run in agents if not called(run)]


class _Data:
    """The rows of one window, loaded once, filtered, and joined to their agent runs and web requests."""

    def __init__(self, rows: Rows, f: Filters, since_ns: int | None) -> None:
        calls = _after(rows["model"], since_ns)
        tools = _after(rows["tool"], since_ns)
        agents = _after(_one_run_per_remote_call(rows["agent"], rows["request"]), since_ns)
        requests = _after(rows["request"], since_ns)
        retrievals = _after(rows.get("retrieval", []), since_ns)
        if f.model is not None:
            calls = [r for r in calls if f.model in (r["request_model"], r["response_model"])]
        if f.provider is not None:
            calls = [r for r in calls if r["provider"] == f.provider]
        if f.agent is not None:
            agents = [r for r in agents if (r["agent_name"] or r["name"]) == f.agent]
            runs_calls = _enclosed(agents, calls)
            runs_tools = _enclosed(agents, tools)
            calls = _unique([r for r in calls if r["agent_name"] == f.agent] + _flat(runs_calls))
            tools = _unique([r for r in tools if r["agent_name"] == f.agent] + _flat(runs_tools))
            runs_retrievals = _enclosed(agents, retrievals)
            retrievals = _unique([r for r in retrievals if r["agent_name"] == f.agent] + _flat(runs_retrievals))
            requests = []
        route_of = {r["trace_id"]: r["route"] for r in sorted(requests, key=lambda r: -r["start_ns"])}
        for row in calls:
            row["endpoint"] = route_of.get(row["trace_id"])
        self.calls, self.tools, self.agents, self.requests = calls, tools, agents, requests
        self.run_calls = _enclosed(agents + requests, calls)
        self.run_tools = _enclosed(agents + requests, tools)
        self.retrievals = retrievals
        self.run_retrievals = _enclosed(agents + requests, [r for r in retrievals if r["operation"] in _QUERIES])

    def agent_calls(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _unique(c for run in runs for c in self.run_calls.get(run["span_id"], ()))


_QUERIES = ("retrieval", "search_memory")
"""Store operations that read: the retrievals a run counts (writes are listed in the table, not counted)."""


def _by_retrieval(rows: list[dict[str, Any]]) -> list[RetrievalStats]:
    groups = _grouped(rows, lambda r: "\x00".join((r["operation"] or "", r["store"], r["collection"] or "")))
    out = []
    for key, group in groups.items():
        operation, store_name, collection = key.split("\x00")
        out.append(retrieval_stats(operation, store_name, collection or None, group))
    return sorted(out, key=lambda s: (s.operation not in _QUERIES, -s.calls, s.store, s.collection or ""))


def _flat(groups: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for rows in groups.values() for row in rows]


def _stats(name: str, timed: list[dict[str, Any]], calls: list[dict[str, Any]]) -> Stats:
    return usage(timing(Stats(name=name), timed), calls)


def _by_cost_then_count(items: Iterable[Stats]) -> list[Stats]:
    return sorted(items, key=lambda s: (-s.cost_usd, -s.calls, s.name))


def _since_ns(seconds: float | None, now: float) -> int | None:
    return None if seconds is None else int((now - seconds) * 1e9)


def summary(
    path: str | os.PathLike[str] | None = None,
    filters: Filters | None = None,
    thresholds: Thresholds | None = None,
    *,
    recent: int = 20,
    by: str | None = None,
    now: float | None = None,
) -> Summary:
    """Summarise the store at ``path`` (default: the store ``instrument()`` writes to); ``by="service.name"``
    adds the model calls per service."""
    if by not in (None, "service.name"):
        raise ValueError(f"the local store groups by service.name only, not {by!r}; use --prometheus for {by}")
    f = filters or Filters()
    now = time.time() if now is None else now
    t = thresholds or Thresholds.from_env()
    health_window = max(t.window_s, t.budget_window_s)
    with store.reading(path) as conn:
        # One read serves the summary's window and the longer windows health looks at.
        rows = _load(conn, _since_ns(None if f.since is None else max(f.since, health_window), now), f.service)
        uptime, active, dropped = _writers(conn, now, f.service)
        processes = _processes(conn, now, f.service)
        export_dropped = _export_dropped(conn)
    data = _Data(rows, f, _since_ns(f.since, now))
    health = health_of(rows, f, t, now)
    calls = data.calls
    agents = _grouped(data.agents, lambda r: r["agent_name"] or r["name"])
    return Summary(
        generated_at=now,
        store=str(store.resolve_path(path)),
        since=f.since,
        uptime_s=uptime,
        active_calls=active,
        dropped_spans=dropped,
        overall=_stats("all", calls, calls),
        models_used=sorted({r["model"] for r in calls}),
        by_model=_by_cost_then_count(_stats(k, v, v) for k, v in _grouped(calls, lambda r: r["model"]).items()),
        by_provider=_by_cost_then_count(
            _stats(k, v, v) for k, v in _grouped(calls, lambda r: r["provider"] or "unknown").items()
        ),
        by_tool=_by_cost_then_count(
            _stats(k, v, []) for k, v in _grouped(data.tools, lambda r: r["tool_name"] or r["name"]).items()
        ),
        by_agent=_by_cost_then_count(_stats(k, v, data.agent_calls(v)) for k, v in agents.items()),
        by_endpoint=_by_cost_then_count(
            _stats(k, v, data.agent_calls(v)) for k, v in _grouped(data.requests, lambda r: r["route"]).items()
        ),
        recent_runs=_recent_runs(data, recent),
        recent_errors=_recent_errors(data, recent),
        error_types=_error_types(data),
        health=health,
        filters=f.describe(),
        by_instance=[]
        if by is None
        else _by_cost_then_count(
            _stats(k, v, v) for k, v in _grouped(calls, lambda r: r["service"] or "unknown").items()
        ),
        instance_label=by,
        processes=processes,
        export_dropped=export_dropped,
        by_retrieval=_by_retrieval(data.retrievals),
        by_processing=by_processing(calls, lambda r: r["processing"]),
    )


def by_processing(calls: list[Any], processing: Any) -> list[Stats]:
    """Batch results apart from interactive calls; nothing when there were no batch results."""
    if not any(processing(r) for r in calls):
        return []
    groups = _grouped(calls, lambda r: processing(r) or "interactive")
    return _by_cost_then_count(_stats(k, v, v) for k, v in groups.items())


def _export_dropped(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Every writer's undelivered telemetry added up, like ``dropped_spans`` (not limited to the window)."""
    if not store.has_column(conn, "writers", "export_dropped"):  # a store from before the column, read as it is
        return {}
    total: dict[str, dict[str, int]] = {}
    for (text,) in conn.execute("SELECT export_dropped FROM writers WHERE export_dropped IS NOT NULL"):
        for signal, by_destination in store.decode_export_dropped(text).items():
            into = total.setdefault(signal, {})
            for destination, count in by_destination.items():
                into[destination] = into.get(destination, 0) + count
    return total


def _writers(conn: sqlite3.Connection, now: float, service: str | None) -> tuple[float | None, int, int]:
    live_ns = int((now - _LIVE_WRITER_S) * 1e9)
    sql = "SELECT MIN(started_ns), SUM(active_calls) FROM writers WHERE seen_ns >= ?"
    if store.has_column(conn, "writers", "stopped_ns"):
        sql += " AND stopped_ns IS NULL"  # a program that shut down has no uptime, however recently it wrote
    params: list[Any] = [live_ns]
    if service is not None:
        sql += " AND service = ?"
        params.append(service)
    started, active = conn.execute(sql, params).fetchone()
    dropped = conn.execute("SELECT COALESCE(SUM(dropped_spans), 0) FROM writers").fetchone()[0]
    uptime = max(0.0, now - started / 1e9) if started is not None else None
    return uptime, int(active or 0), int(dropped)


def _processes(conn: sqlite3.Connection, now: float, service: str | None) -> list[ProcessStats]:
    """The running writers that report their memory and CPU (``process_metrics=True``), most memory first."""
    if not store.has_column(conn, "writers", "memory_bytes"):  # a store from before the column, read as it is
        return []
    sql = (
        "SELECT host, pid, service, started_ns, seen_ns, memory_bytes, cpu_seconds FROM writers "
        "WHERE seen_ns >= ? AND memory_bytes IS NOT NULL"
    )
    params: list[Any] = [int((now - _LIVE_WRITER_S) * 1e9)]
    if service is not None:
        sql += " AND service = ?"
        params.append(service)
    out = []
    for host, pid, svc, started_ns, seen_ns, memory, cpu in conn.execute(sql, params):
        lived = (seen_ns - started_ns) / 1e9
        out.append(
            ProcessStats(
                name=f"{host}:{pid}",
                service=svc,
                uptime_s=max(0.0, now - started_ns / 1e9),
                memory_bytes=memory,
                cpu_seconds=cpu,
                cpu_utilization=cpu / lived if cpu is not None and lived > 0 else None,
            )
        )
    return sorted(out, key=lambda p: (-(p.memory_bytes or 0), p.name))


def health_of(all_rows: Rows, f: Filters, thresholds: Thresholds, now: float) -> Health:
    """Alerts over the recent window (error rate, latency, failures) and over the budget window (spend)."""
    longest = max(thresholds.window_s, thresholds.budget_window_s)
    rows = _Data(all_rows, f, _since_ns(longest, now)).calls
    recent_ns = (now - thresholds.window_s) * 1e9
    budget_ns = (now - thresholds.budget_window_s) * 1e9
    recent = [r for r in rows if r["end_ns"] >= recent_ns]
    spend = sum(r["cost"] or 0.0 for r in rows if r["end_ns"] >= budget_ns)
    return evaluate(timing(Stats(), recent), spend, thresholds)


def _recent_runs(data: _Data, limit: int) -> list[Run]:
    candidates = sorted(data.agents + data.requests, key=lambda r: r["end_ns"], reverse=True)[:limit]
    runs = []
    for run in candidates:
        calls = data.run_calls.get(run["span_id"], [])
        tools = data.run_tools.get(run["span_id"], [])
        retrieved = data.run_retrievals.get(run["span_id"], [])
        is_agent = run["kind"] == "agent"
        runs.append(
            Run(
                kind=run["kind"],
                name=(run["agent_name"] or run["name"]) if is_agent else run["route"],
                trace_id=run["trace_id"],
                started_at=run["start_ns"] / 1e9,
                duration_s=run["duration_s"],
                ok=bool(run["ok"]),
                error_type=run["error_type"],
                model_calls=len(calls),
                tool_calls=len(tools),
                input_tokens=sum(c["input_tokens"] or 0 for c in calls),
                output_tokens=sum(c["output_tokens"] or 0 for c in calls),
                cost_usd=sum(c["cost"] or 0.0 for c in calls),
                retrievals=len(retrieved),
            )
        )
    return runs


_NAME_OF = {"model": "model", "tool": "tool_name", "agent": "agent_name", "request": "route", "retrieval": "label"}


def _failed(data: _Data) -> list[dict[str, Any]]:
    kinds = (data.calls, data.tools, data.agents, data.requests, data.retrievals)
    failed = [r for rows in kinds for r in rows if not r["ok"]]
    failed.sort(key=lambda r: r["end_ns"], reverse=True)
    return failed


def _error_types(data: _Data) -> list[ErrorGroup]:
    groups: dict[tuple[str, str, str], ErrorGroup] = {}
    for r in _failed(data):  # newest first: the first seen of a group is its latest
        key = (r["error_type"] or "error", r["kind"], r[_NAME_OF[r["kind"]]] or r["name"])
        group = groups.get(key)
        if group is None:
            groups[key] = ErrorGroup(*key, count=1, last_at=r["end_ns"] / 1e9, last_message=r["error_message"])
        else:
            group.count += 1
    return sorted(groups.values(), key=lambda g: (-g.count, -(g.last_at or 0.0)))


def _recent_errors(data: _Data, limit: int) -> list[ErrorEntry]:
    failed = _failed(data)
    return [
        ErrorEntry(
            at=r["end_ns"] / 1e9,
            kind=r["kind"],
            name=r[_NAME_OF[r["kind"]]] or r["name"],
            error_type=r["error_type"] or "error",
            message=r["error_message"],
            trace_id=r["trace_id"],
        )
        for r in failed[:limit]
    ]


_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
_AUTO_BUCKETS = 60
"""``bucket="auto"`` picks the smallest round step that covers the span in at most this many buckets."""


def _step(bucket: str | float, span: float) -> float:
    if bucket == "minute":
        return 60.0
    if bucket == "hour":
        return 3600.0
    if bucket == "auto":
        return float(next((s for s in _NICE_STEPS if s * _AUTO_BUCKETS >= span), _NICE_STEPS[-1]))
    try:
        step = float(bucket)
    except (TypeError, ValueError):
        step = 0.0
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"bucket={bucket!r}; use 'auto', 'minute', 'hour' or a number of seconds")
    return step


def timeseries(
    path: str | os.PathLike[str] | None = None,
    filters: Filters | None = None,
    *,
    bucket: str | float = "auto",
    now: float | None = None,
) -> list[Point]:
    """Model calls per time bucket (calls, failures, tokens, dollars, mean latency), oldest first, with empty
    buckets filled so charts have an even time axis.

    ``bucket`` is ``"auto"`` (a round step that gives at most 60 buckets), ``"minute"``, ``"hour"`` or seconds.
    With a window (``filters.since``) the series covers the window up to now; without one it covers the data,
    from the first call to the last, so a short run fills the chart instead of being one bar at its edge."""
    f = filters or Filters()
    now = time.time() if now is None else now
    with store.reading(path) as conn:
        since_ns = _since_ns(f.since, now)
        calls = _Data(_load(conn, since_ns, f.service), f, since_ns).calls
    if f.since is not None:
        start, end = now - f.since, now
    elif calls:
        ends = [row["end_ns"] / 1e9 for row in calls]
        start, end = min(ends), max(ends)
    else:
        start, end = now - 3600, now
    step = _step(bucket, end - start)
    start = max(start, end - step * 1440)  # at most 1440 buckets
    first = start // step * step
    points = [Point(t=first + i * step) for i in range(int((end - first) // step) + 1)]
    totals = [0.0] * len(points)
    for row in calls:
        index = int((row["end_ns"] / 1e9 - first) // step)
        if not 0 <= index < len(points):
            continue
        point = points[index]
        point.calls += 1
        point.failed += 0 if row["ok"] else 1
        point.input_tokens += row["input_tokens"] or 0
        point.output_tokens += row["output_tokens"] or 0
        point.cost_usd += row["cost"] or 0.0
        totals[index] += row["duration_s"]
    for point, total in zip(points, totals, strict=True):
        if point.calls:
            point.avg_s = total / point.calls
    return points


def run_detail(path: str | os.PathLike[str] | None, trace_id: str) -> dict[str, Any]:
    """Everything the store kept of one trace (an agent run or a request): its spans in start order."""
    with store.reading(path) as conn:
        columns = store.span_columns(conn, _COLUMNS)
        cursor = conn.execute(f"SELECT {columns} FROM spans WHERE trace_id = ? ORDER BY start_ns", (trace_id,))
        names = [d[0] for d in cursor.description]
        spans = [dict(zip(names, values, strict=True)) for values in cursor]
    if not spans:
        raise LookupError(f"no run with trace id {trace_id!r} in the store")
    calls = [s for s in spans if s["kind"] == "model"]
    return {
        "trace_id": trace_id,
        "started_at": spans[0]["start_ns"] / 1e9,
        "duration_s": (max(s["end_ns"] for s in spans) - spans[0]["start_ns"]) / 1e9,
        "model_calls": len(calls),
        "tool_calls": sum(1 for s in spans if s["kind"] == "tool"),
        "retrievals": sum(1 for s in spans if s["kind"] == "retrieval" and s["operation"] in _QUERIES),
        "failed": sum(1 for s in spans if not s["ok"]),
        "input_tokens": sum(s["input_tokens"] or 0 for s in calls),
        "output_tokens": sum(s["output_tokens"] or 0 for s in calls),
        "cost_usd": sum(s["cost"] or 0.0 for s in calls),
        "spans": spans,
    }
