"""Evaluations in the local store, and what the report says of them beside cost.

``record_evaluation`` hands each result to the store's exporter, which writes it with its next batch into the
``evaluations`` table, keyed to the evaluated span. The report joins them to the model calls they judge: per
evaluation name and model, agent or run, how many, the mean score, the share of each label, the dollars of the
evaluated calls and the dollars per good answer (:func:`otel_agentmetrics.evaluations.is_good`).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    name TEXT NOT NULL,
    score REAL,
    label TEXT,
    response_id TEXT
);
CREATE INDEX IF NOT EXISTS evaluations_by_time ON evaluations (time_ns);
"""

_COLUMNS = ("trace_id", "span_id", "time_ns", "name", "score", "label", "response_id")


def write(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    conn.executescript(SCHEMA)
    conn.executemany(
        f"INSERT INTO evaluations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        [tuple(row.get(c) for c in _COLUMNS) for row in rows],
    )


@dataclass(slots=True)
class EvaluationStats:
    """One evaluation name within one group (a model, an agent or a run)."""

    evaluation: str
    group: str
    count: int = 0
    mean_score: float | None = None
    labels: dict[str, float] = field(default_factory=dict)
    """Share of each label among the evaluations that have one."""
    good: int = 0
    cost_usd: float = 0.0
    """Dollars of the evaluated model calls (each counted once)."""
    usd_per_good: float | None = None


def summarize(conn: sqlite3.Connection, since_ns: int | None = None) -> dict[str, list[EvaluationStats]]:
    """Evaluations by model, by agent and by run (``{"model": [...], "agent": [...], "run": [...]}``)."""
    from .._evaluated import is_good

    present = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='evaluations'").fetchone()
    if present is None:
        return {"model": [], "agent": [], "run": []}
    query = (
        "SELECT e.trace_id, e.span_id, e.name, e.score, e.label, s.request_model, s.response_model, s.agent_name, "
        "s.cost FROM evaluations e LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id"
    )
    params: tuple[Any, ...] = ()
    if since_ns is not None:
        query += " WHERE e.time_ns >= ?"
        params = (since_ns,)
    rows = [dict(row) for row in conn.execute(query, params)]
    out: dict[str, list[EvaluationStats]] = {}
    for by, key in (
        ("model", lambda r: r["response_model"] or r["request_model"]),
        ("agent", lambda r: r["agent_name"]),
        ("run", lambda r: r["trace_id"]),
    ):
        out[by] = _grouped(rows, key, is_good)
    return out


def _grouped(rows: Iterable[dict[str, Any]], key: Any, is_good: Any) -> list[EvaluationStats]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        group = key(row)
        if group is not None:
            groups[(row["name"], str(group))].append(row)
    out = []
    for (name, group), members in sorted(groups.items()):
        stats = EvaluationStats(evaluation=name, group=group, count=len(members))
        scores = [m["score"] for m in members if m["score"] is not None]
        stats.mean_score = sum(scores) / len(scores) if scores else None
        labelled = [m["label"] for m in members if m["label"] is not None]
        for label in sorted(set(labelled)):
            stats.labels[label] = labelled.count(label) / len(labelled)
        stats.good = sum(1 for m in members if is_good(m["score"], m["label"]))
        costs = {(m["trace_id"], m["span_id"]): m["cost"] for m in members if m["cost"] is not None}
        stats.cost_usd = sum(costs.values())
        stats.usd_per_good = stats.cost_usd / stats.good if stats.good and costs else None
        out.append(stats)
    return out


def of_store(path: Any, since_s: float | None = None) -> dict[str, list[dict[str, Any]]]:
    """The evaluations of a local store as plain data (the dashboard's ``/api/evaluations``); empty when the
    store or its table does not exist yet, :class:`~.store.StoreUnreadable` when the file is not a database."""
    import time

    from . import store

    try:
        with store.reading(path) as conn:
            since_ns = time.time_ns() - int(since_s * 1e9) if since_s else None
            groups = summarize(conn, since_ns)
    except store.StoreMissing:
        return {"model": [], "agent": [], "run": []}
    return {by: [{k: getattr(s, k) for k in s.__slots__} for s in items] for by, items in groups.items()}


def to_text(groups: dict[str, list[EvaluationStats]]) -> str:
    """The report's evaluations section ("" when there are none)."""
    lines: list[str] = []
    titles = {"model": "by model", "agent": "by agent", "run": "by run"}
    for by in ("model", "agent", "run"):
        items = groups.get(by) or []
        if not items:
            continue
        if not lines:
            lines.append("Evaluations")
        lines.append(f"  {titles[by]}:")
        for s in items:
            mean = f"{s.mean_score:.3g}" if s.mean_score is not None else "-"
            labels = ", ".join(f"{label} {share:.0%}" for label, share in s.labels.items()) or "-"
            per_good = f"${s.usd_per_good:.6f}" if s.usd_per_good is not None else "-"
            lines.append(
                f"    {s.evaluation:<16} {s.group:<34} n={s.count:<4} mean={mean:<6} labels: {labels:<24} "
                f"cost ${s.cost_usd:.6f}  per good answer {per_good}"
            )
    return "\n".join(lines) + ("\n" if lines else "")
