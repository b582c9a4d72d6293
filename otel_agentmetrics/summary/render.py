"""A ``Summary`` as tables, then as Markdown, CSV, JSON, plain text or Prometheus text.

Every output is built from the same ``tables()`` so the terminal, the exports and the dashboard say the same
thing; only the CSV and JSON keep raw numbers (seconds, dollars) for spreadsheets and scripts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field

from .stats import RetrievalStats, Stats, Summary
from .timeparse import format_duration

_GROUPS = (
    ("Models", "by_model", "model"),
    ("Providers", "by_provider", "provider"),
    ("Tools", "by_tool", "tool"),
    ("Agents", "by_agent", "agent"),
    ("Endpoints", "by_endpoint", "endpoint"),
    ("Batch and interactive", "by_processing", "processing"),
)


@dataclass(slots=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    key: str = ""


def money(usd: float | None) -> str:
    """Dollars with enough decimals to show two significant digits of a small amount: a $0.0000048 call is
    not shown as "$0.0000", which would read as free."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if usd >= 1:
        return f"${usd:,.2f}"
    decimals = min(10, max(4, 1 - math.floor(math.log10(usd))))
    return f"${usd:.{decimals}f}"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def tokens(count: int) -> str:
    return f"{count:,}"


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


ABSENT_NOTE = "not in Prometheus (metrics only): see the local store or your traces"


def source_line(s: Summary) -> str:
    if s.source == "prometheus":
        return f"Prometheus {s.store}, last {format_duration(s.since)}" if s.since else f"Prometheus {s.store}"
    return f"store {s.store}"


def overview(s: Summary) -> list[tuple[str, str]]:
    o = s.overall
    cached = "-" if "cached_tokens" in s.absent else tokens(o.cached_tokens)
    rows = [
        ("Health", s.health.status.upper()),
        ("Uptime", format_duration(s.uptime_s) if s.uptime_s is not None else "no process writing now"),
        ("Model calls", f"{o.calls:,} ({o.successful:,} ok, {o.failed:,} failed, {s.active_calls} in flight)"),
        ("Success rate", percent(o.success_rate)),
        (
            "Latency",
            f"avg {format_duration(o.avg_s)} · p50 {format_duration(o.p50_s)} · "
            f"p95 {format_duration(o.p95_s)} · p99 {format_duration(o.p99_s)}",
        ),
        (
            "Tokens",
            f"{tokens(o.input_tokens)} in ({cached} cached) · {tokens(o.output_tokens)} out",
        ),
        ("Cost", money(o.cost_usd) + (f" ({o.unpriced_calls} calls with no known price)" if o.unpriced_calls else "")),
        ("Models used", ", ".join(s.models_used) or "-"),
    ]
    if s.dropped_spans:  # calls missing from every figure above: say so where the figures are
        rows.append(("Lost spans", f"{s.dropped_spans:,} not stored (queue full or write failed; see the app's log)"))
    if undelivered(s):  # the collector (OTLP ...) lacks these: what it shows is short by that much
        rows.append(("Not delivered", undelivered(s)))
    if s.processes:
        memory = sum(p.memory_bytes or 0 for p in s.processes)
        cpu = sum(p.cpu_utilization or 0.0 for p in s.processes)
        rows.append(("Processes", f"{len(s.processes)} · {size(memory)} memory · {cpu:.1%} of a CPU"))
    if s.source != "store":
        rows.append(("Source", source_line(s)))
    return rows


_ITEMS = {"traces": "spans", "metrics": "metric points"}


def undelivered(s: Summary) -> str:
    """What other destinations never got, non-zero only: ``12 spans to otlp · 30 metric points to otlp``."""
    return " · ".join(
        f"{count:,} {_ITEMS.get(signal, signal)} to {destination}"
        for signal, by_destination in sorted(s.export_dropped.items(), key=lambda item: item[0] != "traces")
        for destination, count in sorted(by_destination.items())
        if count
    )


def size(count: int | None) -> str:
    """Bytes in binary units: 118.3 MiB."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _group_table(title: str, key: str, items: list[Stats], kind: str, cached_known: bool = True) -> Table:
    runs = "runs" if kind in ("agent", "tool") else ("requests" if kind == "endpoint" else "calls")
    with_usage = kind != "tool"
    headers = [kind, runs, "ok", "failed", "success", "avg", "p50", "p95", "p99"]
    if with_usage:
        headers += (["model calls"] if kind in ("agent", "endpoint") else []) + ["input", "cached", "output", "cost"]
    table = Table(title, headers, key=key)
    for st in items:
        row = [
            st.name,
            f"{st.calls:,}",
            f"{st.successful:,}",
            f"{st.failed:,}",
            percent(st.success_rate),
            format_duration(st.avg_s),
            format_duration(st.p50_s),
            format_duration(st.p95_s),
            format_duration(st.p99_s),
        ]
        if with_usage:
            row += ([f"{st.model_calls:,}"] if kind in ("agent", "endpoint") else []) + [
                tokens(st.input_tokens),
                tokens(st.cached_tokens) if cached_known else "-",
                tokens(st.output_tokens),
                money(st.cost_usd),
            ]
        table.rows.append(row)
    return table


def _rows(count: int | None) -> str:
    return "-" if count is None else f"{count:,}"


def retrieval_table(items: list[RetrievalStats]) -> Table:
    """Store operations: retrievals first, then writes and memory operations."""
    headers = ["operation", "store", "collection", "calls", "failed", "errors", "avg", "p50", "p95", "rows"]
    table = Table("Retrieval", headers, key="by_retrieval")
    for st in items:
        table.rows.append(
            [
                st.operation,
                st.store,
                st.collection or "-",
                f"{st.calls:,}",
                f"{st.failed:,}",
                percent(st.error_rate),
                format_duration(st.avg_s),
                format_duration(st.p50_s),
                format_duration(st.p95_s),
                _rows(st.rows),
            ]
        )
    return table


def tables(s: Summary) -> list[Table]:
    """The overview, each breakdown that has rows, recent runs, recent errors and alerts."""
    out = [Table("Overview", ["", ""], [list(pair) for pair in overview(s)], key="overview")]
    for title, key, kind in _GROUPS:
        items = getattr(s, key)
        if items:
            out.append(_group_table(title, key, items, kind, "cached_tokens" not in s.absent))
    if s.by_retrieval:
        out.append(retrieval_table(s.by_retrieval))
    if s.by_instance and s.instance_label:
        by = f"By {s.instance_label}"
        out.append(_group_table(by, "by_instance", s.by_instance, s.instance_label, "cached_tokens" not in s.absent))
    if s.processes:
        procs = Table("Processes", ["process", "service", "uptime", "memory", "CPU", "CPU time"], key="processes")
        for p in s.processes:
            procs.rows.append(
                [
                    p.name,
                    p.service or "-",
                    format_duration(p.uptime_s),
                    size(p.memory_bytes),
                    percent(p.cpu_utilization),
                    format_duration(p.cpu_seconds),
                ]
            )
        out.append(procs)
    for key, title in (("recent_runs", "Recent runs"), ("recent_errors", "Recent errors")):
        if key in s.absent:
            out.append(Table(title, ["", ""], [["-", ABSENT_NOTE]], key=f"absent_{key}"))
    if s.recent_runs:
        runs = Table("Recent runs", ["started", "run", "status", "duration", "model calls", "tools", "tokens", "cost"])
        runs.key = "recent_runs"
        for r in s.recent_runs:
            runs.rows.append(
                [
                    when(r.started_at),
                    f"{r.kind} {r.name}",
                    "ok" if r.ok else f"failed ({r.error_type})",
                    format_duration(r.duration_s),
                    str(r.model_calls),
                    str(r.tool_calls),
                    tokens(r.input_tokens + r.output_tokens),
                    money(r.cost_usd),
                ]
            )
        out.append(runs)
    if s.recent_errors:
        errors = Table("Recent errors", ["at", "where", "error", "message"], key="recent_errors")
        for e in s.recent_errors:
            errors.rows.append([when(e.at), f"{e.kind} {e.name}", e.error_type, e.message or ""])
        out.append(errors)
    if s.error_types:
        groups = Table("Errors by type", ["error", "where", "count", "last seen", "last message"], key="error_types")
        for g in s.error_types:
            groups.rows.append(
                [g.error_type, f"{g.kind} {g.name}", str(g.count), when(g.last_at), g.last_message or ""]
            )
        out.append(groups)
    alerts = Table("Alerts", ["severity", "alert", "message"], key="alerts")
    for a in s.health.alerts:
        alerts.rows.append([a.severity, a.name, a.message])
    if not alerts.rows:
        alerts.rows.append(["ok", "-", "no thresholds crossed"])
    out.append(alerts)
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(s: Summary) -> str:
    lines = [f"# Agent metrics report ({when(s.generated_at)})", ""]
    if s.filters:
        lines += ["Filters: " + ", ".join(f"{k}={v}" for k, v in s.filters.items()), ""]
    for table in tables(s):
        lines += [f"## {table.title}", ""]
        headers = table.headers if any(table.headers) else ["", ""]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join(" --- " for _ in headers) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
        lines.append("")
    lines.append(f"Prometheus: `{s.store}`" if s.source == "prometheus" else f"Store: `{s.store}`")
    return "\n".join(lines) + "\n"


def to_text(s: Summary) -> str:
    """Plain aligned columns (for terminals without ``rich``)."""
    blocks = []
    for table in tables(s):
        rows = ([table.headers] if any(table.headers) else []) + table.rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        body = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        blocks.append("\n".join([table.title, "-" * len(table.title), *body]))
    return "\n\n".join(blocks) + "\n"


def to_json(s: Summary) -> str:
    return json.dumps(s.to_dict(), indent=2, default=str) + "\n"


_CSV_FIELDS = (
    "calls", "successful", "failed", "success_rate", "avg_s", "p50_s", "p95_s", "p99_s",
    "model_calls", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "cost_usd",
)  # fmt: skip


def to_csv(s: Summary) -> str:
    """One row per group (``overall``, each model, provider, tool, agent, endpoint), raw numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["group", "name", *_CSV_FIELDS])
    groups: list[tuple[str, Stats]] = [("overall", s.overall)]
    for _, key, kind in _GROUPS:
        groups += [(kind, st) for st in getattr(s, key)]
    groups += [(s.instance_label or "instance", st) for st in s.by_instance]
    for kind, st in groups:
        writer.writerow([kind, st.name, *("" if getattr(st, f) is None else getattr(st, f) for f in _CSV_FIELDS)])
    for r in s.by_retrieval:  # the fields a store operation has; the others (tokens, cost) stay empty
        values = {"calls": r.calls, "successful": r.calls - r.failed, "failed": r.failed, "avg_s": r.avg_s,
                  "p50_s": r.p50_s, "p95_s": r.p95_s}  # fmt: skip
        if r.calls:
            values["success_rate"] = (r.calls - r.failed) / r.calls
        name = f"{r.operation} {r.name}"
        writer.writerow(["retrieval", name, *("" if values.get(f) is None else values[f] for f in _CSV_FIELDS)])
    return buffer.getvalue()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_prometheus(s: Summary) -> str:
    """The summary as Prometheus text (a snapshot of the store; the live OTel metrics come from the
    ``prometheus`` exporter instead)."""
    out: list[str] = []

    def family(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            out.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")

    status = s.health.status
    family(
        "agentmetrics_health",
        "gauge",
        "1 for the current health status of the summary view.",
        [({"status": st}, 1.0 if st == status else 0.0) for st in ("healthy", "degraded", "unhealthy")],
    )
    family("agentmetrics_uptime_seconds", "gauge", "Seconds since the oldest running writer started.",
           [({}, s.uptime_s or 0.0)])  # fmt: skip
    family("agentmetrics_calls_active", "gauge", "Model calls in flight.", [({}, float(s.active_calls))])
    by_model = s.by_model
    family(
        "agentmetrics_model_calls_total", "counter", "Model calls in the store window.",
        [({"model": m.name, "outcome": o}, float(v)) for m in by_model for o, v in (("ok", m.successful),
                                                                                    ("error", m.failed))],
    )  # fmt: skip
    family(
        "agentmetrics_tokens_total", "counter", "Tokens in the store window.",
        [({"model": m.name, "type": t}, float(v)) for m in by_model
         for t, v in (("input", m.input_tokens), ("output", m.output_tokens), ("cached", m.cached_tokens))],
    )  # fmt: skip
    family("agentmetrics_cost_usd_total", "counter", "Dollars spent in the store window.",
           [({"model": m.name}, m.cost_usd) for m in by_model])  # fmt: skip
    family(
        "agentmetrics_model_call_duration_seconds", "gauge", "Model call latency percentiles in the store window.",
        [({"model": m.name, "quantile": q}, v) for m in by_model
         for q, v in (("0.5", m.p50_s), ("0.95", m.p95_s), ("0.99", m.p99_s)) if v is not None],
    )  # fmt: skip
    family(
        "agentmetrics_tool_runs_total", "counter", "Tool runs in the store window.",
        [({"tool": t.name, "outcome": o}, float(v)) for t in s.by_tool for o, v in (("ok", t.successful),
                                                                                   ("error", t.failed))],
    )  # fmt: skip
    family(
        "agentmetrics_agent_runs_total", "counter", "Agent runs in the store window.",
        [({"agent": a.name, "outcome": o}, float(v)) for a in s.by_agent for o, v in (("ok", a.successful),
                                                                                     ("error", a.failed))],
    )  # fmt: skip
    family(
        "agentmetrics_retrievals_total", "counter", "Store operations (retrievals, writes) in the store window.",
        [({"operation": r.operation, "store": r.store, "collection": r.collection or "", "outcome": o}, float(v))
         for r in s.by_retrieval for o, v in (("ok", r.calls - r.failed), ("error", r.failed))],
    )  # fmt: skip
    family("agentmetrics_spans_dropped_total", "counter", "Spans the store could not write.",
           [({}, float(s.dropped_spans))])  # fmt: skip
    family(
        "agentmetrics_export_undelivered_total", "counter", "Spans and metric points other destinations never got.",
        [({"signal": signal, "destination": d}, float(v)) for signal, by_d in sorted(s.export_dropped.items())
         for d, v in sorted(by_d.items())],
    )  # fmt: skip
    return "\n".join(out) + "\n"
