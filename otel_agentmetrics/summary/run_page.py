"""The page of one run: its steps as a tree in time order (agent runs, their model calls and tool calls, nested
runs), each with a bar showing when it ran within the run, its model, tokens, dollars and error.

Drawn here, in Python, from ``run_detail``: the page needs no script, so it shows the same thing in any browser
and in a saved copy; the JSON stays at ``api/runs/<trace id>``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .render import money
from .timeparse import format_duration


@dataclass(slots=True)
class Step:
    span: dict[str, Any]
    children: list[Step] = field(default_factory=list)
    depth: int = 0


def tree(spans: list[dict[str, Any]]) -> list[Step]:
    """The spans as a forest: a span hangs under its parent when the store kept the parent, else under the
    innermost kept span whose time encloses it (an unkept span of the user's may sit between); children in
    start order."""
    steps = {s["span_id"]: Step(s) for s in spans}
    roots: list[Step] = []
    ordered = sorted(spans, key=lambda s: (s["start_ns"], -s["end_ns"]))
    for span in ordered:
        step = steps[span["span_id"]]
        parent = steps.get(span.get("parent_id") or "")
        if parent is None:
            enclosing = [
                other
                for other in ordered
                if other is not span
                and other["start_ns"] <= span["start_ns"]
                and span["end_ns"] <= other["end_ns"]
                and (other["end_ns"] - other["start_ns"]) > (span["end_ns"] - span["start_ns"])
            ]
            if enclosing:
                parent = steps[min(enclosing, key=lambda o: o["end_ns"] - o["start_ns"])["span_id"]]
        (parent.children if parent is not None else roots).append(step)
    return roots


def _flatten(steps: list[Step], depth: int = 0) -> list[Step]:
    out: list[Step] = []
    for step in steps:
        step.depth = depth
        out.append(step)
        out += _flatten(step.children, depth + 1)
    return out


def _label(span: dict[str, Any]) -> str:
    kind = span["kind"]
    if kind == "model":
        return span["name"]  # "chat gpt-4o-mini": the operation and the model asked for
    if kind == "tool":
        return span.get("tool_name") or span["name"]
    if kind == "agent":
        return span.get("agent_name") or span["name"]
    if kind == "retrieval":  # "retrieval chroma docs"
        where = " ".join(part for part in (span.get("db_system"), span.get("collection")) if part)
        return f"{span.get('operation') or 'retrieval'} {where}" if where else span["name"]
    return span.get("route") or span["name"]


def _rows(span: dict[str, Any]) -> str:
    rows = span.get("returned_rows")
    return "" if span["kind"] != "retrieval" or rows is None else f"{rows:,} rows"


def _tokens(span: dict[str, Any]) -> str:
    if span["kind"] != "model" or (span.get("input_tokens") is None and span.get("output_tokens") is None):
        return ""
    return f"{span.get('input_tokens') or 0:,} in · {span.get('output_tokens') or 0:,} out"


def run_page(detail: dict[str, Any], query: dict[str, str]) -> str:
    """The HTML page of ``run_detail``'s answer. ``query`` keeps the dashboard's token in its links."""
    spans = detail["spans"]
    start = min(s["start_ns"] for s in spans)
    end = max(s["end_ns"] for s in spans)
    total = max(end - start, 1)
    keep = {k: v for k, v in query.items() if k == "token"}
    suffix = f"?{urlencode(keep)}" if keep else ""
    rows = []
    for step in _flatten(tree(spans)):
        s = step.span
        left = 100 * (s["start_ns"] - start) / total
        width = max(0.3, 100 * (s["end_ns"] - s["start_ns"]) / total)
        error = ""
        if not s["ok"]:
            message = f": {s['error_message']}" if s.get("error_message") else ""
            error = f'<span class="fail">{html.escape((s.get("error_type") or "error") + message)}</span>'
        cost = money(s["cost"]) if s["kind"] == "model" and s.get("cost") is not None else ""
        model = html.escape(s.get("response_model") or s.get("request_model") or "") if s["kind"] == "model" else ""
        rows.append(
            f'<tr class="step {html.escape(s["kind"])}{"" if s["ok"] else " failed"}" '
            f'data-span="{html.escape(s["span_id"])}">'
            f'<td class="name" style="padding-left:{8 + 18 * step.depth}px">'
            f'<span class="kind">{html.escape(s["kind"])}</span> {html.escape(_label(s))}</td>'
            f'<td class="bar"><div class="track"><div class="fill" style="left:{left:.3f}%;width:{width:.3f}%">'
            f"</div></div></td>"
            f"<td>{format_duration(s['duration_s'])}</td><td>{model}</td><td>{_tokens(s) or _rows(s)}</td>"
            f"<td>{cost}</td>"
            f'<td class="msg">{error}</td></tr>'
        )
    trace_id = html.escape(detail["trace_id"])
    facts = (
        f"{format_duration(detail['duration_s'])} · {detail['model_calls']} model calls · {detail['tool_calls']} "
        f"tool calls · "
        + (f"{detail['retrievals']} retrievals · " if detail.get("retrievals") else "")
        + f"{detail['input_tokens'] + detail['output_tokens']:,} tokens · {money(detail['cost_usd'])}"
        + (f" · <span class='fail'>{detail['failed']} failed</span>" if detail["failed"] else "")
    )
    return (
        _TEMPLATE.replace("__TRACE__", trace_id)
        .replace("__BACK__", html.escape("../" + suffix))
        .replace("__JSON__", html.escape(f"../api/runs/{quote(detail['trace_id'])}{suffix}"))
        .replace("__FACTS__", facts)
        .replace("__ROWS__", "\n".join(rows))  # last: step names and messages are the user's text
    )


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>run __TRACE__ · agentmetrics</title>
<style>
:root { --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ec; --accent:#3b6fe0; --bad:#d64545; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:#f6f7f9;
       color:var(--ink); }
header { padding:14px 24px; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0 0 4px; font-weight:650; }
header a { color:var(--accent); font-size:12px; margin-right:12px; }
.meta { color:var(--muted); font-size:13px; }
main { padding:18px 24px 40px; max-width:1400px; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px;
          overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:right; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; font-size:12px; }
th:first-child, td.name { text-align:left; }
td.msg, th.msg { text-align:left; white-space:normal; }
td.bar { width:32%; min-width:160px; }
.track { position:relative; height:10px; background:#f0f2f6; border-radius:3px; }
.fill { position:absolute; top:0; height:10px; border-radius:3px; background:#7aa2f7; }
tr.agent .fill { background:#3b6fe0; } tr.tool .fill { background:#1f9d55; } tr.request .fill { background:#9a6fe0; }
tr.retrieval .fill { background:#d08a1e; }
tr.failed .fill { background:var(--bad); }
.kind { display:inline-block; min-width:46px; color:var(--muted); font-size:11px; text-transform:uppercase; }
.fail { color:var(--bad); font-weight:600; }
</style>
</head>
<body>
<header>
  <h1>Run <code>__TRACE__</code></h1>
  <div class="meta">__FACTS__</div>
  <div><a href="__BACK__">&larr; dashboard</a><a href="__JSON__">JSON</a></div>
</header>
<main>
<section>
<table>
<thead><tr><th>step</th><th>when</th><th>duration</th><th>model</th><th>tokens</th><th>cost</th>
<th class="msg">error</th></tr></thead>
<tbody>
__ROWS__
</tbody>
</table>
</section>
</main>
</body>
</html>
"""
