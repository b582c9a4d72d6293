"""The dashboard page: one HTML document, CSS, JS and SVG charts inline (no CDN: it works offline).

The first data is embedded in the page and drawn by the same script that later refreshes it from
``api/summary`` and ``api/timeseries``, so there is one rendering path and the page is complete on first paint.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from .stats import Point, Summary

_WINDOWS = (("15m", "15 min"), ("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days"), ("all", "all"))


def _embed(data: object) -> str:
    # "</script>" inside a string must not end the script element.
    return json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(
    s: Summary,
    series: list[Point],
    *,
    refresh_s: float,
    query: dict[str, str],
    evaluations: dict[str, Any] | None = None,
) -> str:
    current = query.get("since", "all")
    keep = {k: v for k, v in query.items() if k in ("token", "model", "agent", "provider", "service")}
    links = " ".join(
        f'<a class="win{" on" if value == current else ""}" href="?{html.escape(urlencode({**keep, "since": value}))}">'
        f"{label}</a>"
        for value, label in _WINDOWS
    )
    data = {
        "summary": s.to_dict(),
        "series": [{k: getattr(p, k) for k in p.__slots__} for p in series],
        "query": query,
        "refresh": refresh_s,
        "evaluations": evaluations or {},
    }
    return _TEMPLATE.replace("__WINDOWS__", links).replace("__DATA__", _embed(data))


def empty_page(store: str) -> str:
    """What the dashboard shows before anything was recorded: where it looks and how to fill it."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>agentmetrics dashboard</title>'
        '<meta http-equiv="refresh" content="5"></head>'
        '<body style="font:15px/1.5 system-ui,sans-serif;max-width:640px;margin:60px auto;color:#1d2330">'
        "<h1>agentmetrics</h1><p>Nothing recorded yet: there is no store at <code>"
        + html.escape(store)
        + "</code>.</p><p>Call <code>otel_agentmetrics.instrument()</code> in your app (or run "
        "<code>agentmetrics demo</code>) and this page fills in by itself.</p></body></html>"
    )


def unreadable_page(message: str) -> str:
    """What the dashboard shows when the store's file cannot be read as a database: the reason and the fix."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>agentmetrics dashboard</title>'
        '<meta http-equiv="refresh" content="30"></head>'
        '<body style="font:15px/1.5 system-ui,sans-serif;max-width:640px;margin:60px auto;color:#1d2330">'
        "<h1>agentmetrics</h1><p>The store cannot be read: " + html.escape(message) + ".</p></body></html>"
    )


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agentmetrics dashboard</title>
<style>
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ec; --accent:#3b6fe0;
        --ok:#1f9d55; --warn:#d98a00; --bad:#d64545; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg);
       color:var(--ink); }
header { display:flex; align-items:center; gap:16px; padding:14px 24px; background:var(--card);
         border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:18px; margin:0; font-weight:650; }
.badge { padding:3px 10px; border-radius:999px; font-weight:600; font-size:12px; letter-spacing:.04em; color:#fff; }
.badge.healthy { background:var(--ok); } .badge.degraded { background:var(--warn); }
.badge.unhealthy { background:var(--bad); }
.meta { color:var(--muted); font-size:12px; }
.wins { margin-left:auto; display:flex; gap:4px; }
.win { padding:4px 10px; border:1px solid var(--line); border-radius:6px; color:var(--ink); text-decoration:none;
       font-size:12px; background:var(--card); }
.win.on { background:var(--accent); color:#fff; border-color:var(--accent); }
main { padding:18px 24px 40px; max-width:1400px; margin:0 auto; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(160px,1fr)); gap:12px; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.05em; }
.kpi .value { font-size:24px; font-weight:650; margin-top:2px; }
.kpi .sub { color:var(--muted); font-size:12px; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:12px; margin-top:12px; }
@media (max-width:900px) { .grid2 { grid-template-columns:1fr; } }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px;
          margin-top:12px; overflow-x:auto; }
section h2 { font-size:14px; margin:0 0 8px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:right; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; font-size:12px; }
th:first-child, td:first-child { text-align:left; }
td.msg, th.msg { text-align:left; white-space:normal; color:var(--muted); }
td.txt, th.txt { text-align:left; }
.empty { color:var(--muted); font-size:13px; }
.alert { padding:8px 10px; border-radius:8px; margin:4px 0; }
.alert.warning { background:#fff5e0; border:1px solid #f3d08a; }
.alert.critical { background:#fdeaea; border:1px solid #f0b4b4; }
.fail { color:var(--bad); font-weight:600; } .okc { color:var(--ok); }
svg text { font-size:11px; fill:var(--muted); }
</style>
</head>
<body>
<header>
  <h1>agentmetrics</h1>
  <span id="health" class="badge"></span>
  <span class="meta" id="meta"></span>
  <nav class="wins">__WINDOWS__</nav>
</header>
<main>
  <div class="kpis" id="kpis"></div>
  <div id="alerts"></div>
  <div class="grid2">
    <section><h2>Cost over time</h2><div id="chart-cost"></div></section>
    <section><h2>Model calls and errors over time</h2><div id="chart-calls"></div></section>
  </div>
  <section id="models"></section>
  <section id="agents"></section>
  <section id="evaluations" hidden></section>
  <div class="grid2">
    <section id="tools"></section>
    <section id="alerts-list"></section>
  </div>
  <section id="retrieval" hidden></section>
  <section id="providers"></section>
  <section id="processing"></section>
  <section id="endpoints"></section>
  <section id="instances" hidden></section>
  <section id="processes" hidden></section>
  <section id="runs"></section>
  <section id="error-types"></section>
  <section id="errors"></section>
</main>
<script>
const DATA = __DATA__;
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v == null ? "" : v).replace(/[&<>"']/g,
  (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const num = (n) => (n || 0).toLocaleString("en-US");
// Small amounts keep two significant digits: a $0.0000048 call must not read as free.
const money = (v) => v == null ? "-" : v === 0 ? "$0" : v >= 1 ? "$" + v.toFixed(2)
  : "$" + v.toFixed(Math.min(10, Math.max(4, 1 - Math.floor(Math.log10(v)))));
const pct = (v) => v == null ? "-" : (v * 100).toFixed(1) + "%";
function dur(s) {
  if (s == null) return "-";
  if (s < 0.0005) return Math.round(s * 1e6) + "µs";  // a 40µs tool is not "0ms"
  if (s < 0.01) return (s * 1000).toFixed(1) + "ms";
  if (s < 1) return Math.round(s * 1000) + "ms";
  if (s < 60) return s.toFixed(1) + "s";
  const m = Math.floor(s / 60); if (m < 60) return m + "m " + Math.floor(s % 60) + "s";
  const h = Math.floor(m / 60); if (h < 24) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}
const bytes = (n) => n == null ? "-" : n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB"
  : n < 1073741824 ? (n / 1048576).toFixed(1) + " MiB" : (n / 1073741824).toFixed(1) + " GiB";
const when = (t) => t == null ? "-" : new Date(t * 1000).toLocaleString();
function table(rows, cols, empty) {
  if (!rows.length) return '<p class="empty">' + (empty || "Nothing recorded yet.") + "</p>";
  const head = (c) => "<th" + (c[2] ? ' class="' + c[2] + '"' : "") + ">" + esc(c[0]) + "</th>";
  return "<table><thead><tr>" + cols.map(head).join("") +
    "</tr></thead><tbody>" + rows.map((r) => "<tr>" + cols.map((c) => {
      const cls = c[2] ? ' class="' + c[2] + '"' : "";
      return "<td" + cls + ">" + c[1](r) + "</td>";
    }).join("") + "</tr>").join("") + "</tbody></table>";
}
function groupCols(label, runs, usage) {
  const cols = [[label, (r) => esc(r.name)], [runs, (r) => num(r.calls)],
    ["failed", (r) => r.failed ? '<span class="fail">' + num(r.failed) + "</span>" : "0"],
    ["success", (r) => pct(r.success_rate)], ["avg", (r) => dur(r.avg_s)], ["p50", (r) => dur(r.p50_s)],
    ["p95", (r) => dur(r.p95_s)], ["p99", (r) => dur(r.p99_s)]];
  if (usage) cols.push(["input tok", (r) => num(r.input_tokens)],
    ["cached", (r) => cachedKnown ? num(r.cached_tokens) : "-"],
    ["output tok", (r) => num(r.output_tokens)], ["cost", (r) => money(r.cost_usd)]);
  return cols;
}
function section(id, title, body) { $(id).innerHTML = "<h2>" + esc(title) + "</h2>" + body; }
// Gridlines at round values: 1, 2 or 5 times a power of ten for dollars; whole numbers for counts (0, 1, 2 ...
// or 0, 4, 8 ...), since half a call is not a thing.
function scale(peak, counts) {
  if (!counts) {
    if (!(peak > 0)) return {top: 1e-12, lines: 4};
    const rough = peak / 4, power = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= rough * (1 - 1e-9));
    return {top: step * 4, lines: 4};
  }
  const lines = Math.max(1, Math.min(4, Math.ceil(peak)));
  const step = Math.max(1, Math.ceil(peak / lines));
  return {top: step * lines, lines: lines};
}
function chart(points, series, fmt, counts) {
  const W = 600, H = 180, B = 22, T = 8;
  if (!points.length) return '<p class="empty">No data in this window.</p>';
  const peak = Math.max(0, ...points.map((p) => Math.max(...series.map((s) => s.value(p)))));
  const {top: max, lines} = scale(peak, counts);
  const labels = Array.from({length: lines + 1}, (_, i) => fmt(max * i / lines));
  const L = Math.max(40, 12 + 7 * Math.max(...labels.map((t) => t.length)));  // room for the longest label
  const bw = (W - L - 4) / points.length;
  let out = '<svg viewBox="0 0 ' + W + " " + H + '" width="100%" role="img">';
  labels.forEach((label, i) => {
    const y = T + (H - T - B) * (1 - i / lines);
    out += '<line x1="' + L + '" x2="' + W + '" y1="' + y + '" y2="' + y + '" stroke="#e3e6ec"/>' +
      '<text class="y" x="' + (L - 6) + '" y="' + (y + 4) + '" text-anchor="end">' + esc(label) + "</text>";
  });
  series.forEach((s, si) => {
    points.forEach((p, i) => {
      const v = s.value(p); if (!v) return;
      const h = (H - T - B) * v / max, w = Math.max(1, bw / series.length - 1);
      out += '<rect x="' + (L + 2 + i * bw + si * w) + '" y="' + (H - B - h) + '" width="' + w + '" height="' +
        h + '" fill="' + s.color + '"><title>' + esc(new Date(p.t * 1000).toLocaleTimeString()) + ": " +
        esc(fmt(v)) + "</title></rect>";
    });
  });
  const ticks = points.length > 2 ? [0, Math.floor(points.length / 2), points.length - 1] : [0, points.length - 1];
  const step = points.length > 1 ? points[1].t - points[0].t : 60;
  const shape = step >= 86400 ? {month: "short", day: "numeric"}
    : step >= 3600 ? {month: "short", day: "numeric", hour: "2-digit"}
    : step >= 60 ? {hour: "2-digit", minute: "2-digit"} : {hour: "2-digit", minute: "2-digit", second: "2-digit"};
  ticks.forEach((i, n) => {
    if (n > 0 && i === ticks[n - 1]) return;
    const d = new Date(points[i].t * 1000);
    const label = step >= 3600 ? d.toLocaleString([], shape) : d.toLocaleTimeString([], shape);
    const last = n === ticks.length - 1 && n > 0;
    const anchor = n === 0 ? "start" : last ? "end" : "middle";
    const x = last ? W - 2 : L + 2 + i * bw;
    out += '<text x="' + x + '" y="' + (H - 6) + '" text-anchor="' + anchor + '">' + esc(label) + "</text>";
  });
  const legend = series.map((s) => '<tspan fill="' + s.color + '">■ </tspan>' + esc(s.name)).join("  ");
  return out + '<text x="' + (L + 8) + '" y="' + (T + 10) + '">' + legend + "</text></svg>";
}
const runQuery = DATA.query.token ? "?token=" + encodeURIComponent(DATA.query.token) : "";
function undelivered(s) {  // what an OTLP collector (or another destination) never got
  const items = {traces: "spans", metrics: "metric points"};
  const parts = [];
  const bySignal = Object.entries(s.export_dropped || {}).sort(([a], [b]) => (a !== "traces") - (b !== "traces"));
  for (const [signal, byDest] of bySignal)
    for (const [dest, count] of Object.entries(byDest))
      if (count) parts.push(num(count) + " " + (items[signal] || signal) + " not delivered to " + dest);
  return parts.length ? " · " + parts.join(" · ") : "";
}
let cachedKnown = true;  // Prometheus has no cached-token counts: shown as "-", not 0
function draw(data) {
  const s = data.summary, o = s.overall;
  cachedKnown = !(s.absent || []).includes("cached_tokens");
  const badge = $("health"); badge.className = "badge " + s.health.status;
  badge.textContent = s.health.status.toUpperCase();
  $("meta").textContent = (s.uptime_s == null ? "no process writing now" : "uptime " + dur(s.uptime_s)) +
    (s.dropped_spans ? " · " + num(s.dropped_spans) + " spans lost (not stored)" : "") + undelivered(s) +
    " · updated " +
    new Date(s.generated_at * 1000).toLocaleTimeString() + " · " + s.store;
  const kpi = (label, value, sub) => '<div class="kpi"><div class="label">' + esc(label) +
    '</div><div class="value">' + value + '</div><div class="sub">' + (sub || "") + "</div></div>";
  $("kpis").innerHTML = [
    kpi("Model calls", num(o.calls), num(o.successful) + " ok · " + num(o.failed) + " failed · " +
      num(s.active_calls) + " in flight"),
    kpi("Success rate", pct(o.success_rate), ""),
    kpi("Latency p95", dur(o.p95_s), "avg " + dur(o.avg_s) + " · p50 " + dur(o.p50_s) + " · p99 " + dur(o.p99_s)),
    kpi("Tokens", num(o.input_tokens + o.output_tokens), num(o.input_tokens) + " in (" +
      (cachedKnown ? num(o.cached_tokens) : "-") + " cached) · " + num(o.output_tokens) + " out"),
    kpi("Cost", money(o.cost_usd), o.unpriced_calls ? o.unpriced_calls + " calls unpriced" : ""),
    kpi("Models", num(s.models_used.length), esc(s.models_used.join(", "))),
  ].join("");
  $("alerts").innerHTML = s.health.alerts.map((a) => '<div class="alert ' + esc(a.severity) + '"><b>' +
    esc(a.severity.toUpperCase()) + "</b> " + esc(a.message) + "</div>").join("");
  $("chart-cost").innerHTML = chart(data.series, [{name: "USD", color: "#3b6fe0", value: (p) => p.cost_usd}],
    (v) => money(Number(v.toPrecision(6))));
  $("chart-calls").innerHTML = chart(data.series, [
    {name: "calls", color: "#7aa2f7", value: (p) => p.calls},
    {name: "errors", color: "#d64545", value: (p) => p.failed}], (v) => num(Math.round(v)), true);
  section("models", "Models", table(s.by_model, groupCols("model", "calls", true)));
  section("providers", "Providers", table(s.by_provider, groupCols("provider", "calls", true)));
  if ((s.by_processing || []).length)
    section("processing", "Batch and interactive", table(s.by_processing, groupCols("processing", "calls", true)));
  section("tools", "Tools", table(s.by_tool, groupCols("tool", "runs", false)));
  section("agents", "Agents", table(s.by_agent, groupCols("agent", "runs", true)));
  const ev = data.evaluations || {}, evRows = [];  // record_evaluation: scores beside the cost of the calls judged
  for (const [by, label] of [["model", "model"], ["agent", "agent"], ["run", "run"]])
    for (const e of ev[by] || []) evRows.push(Object.assign({by: label}, e));
  $("evaluations").hidden = !evRows.length;
  if (evRows.length) section("evaluations", "Evaluations", table(evRows, [
    ["evaluation", (e) => esc(e.evaluation), "txt"], ["by", (e) => esc(e.by), "txt"],
    ["of", (e) => esc(e.group), "txt"], ["count", (e) => num(e.count)],
    ["mean score", (e) => e.mean_score == null ? "-" : esc(Number(e.mean_score.toPrecision(3)))],
    ["labels", (e) => esc(Object.entries(e.labels).map(([k, v]) => k + " " + pct(v)).join(", ") || "-"), "txt"],
    ["good", (e) => num(e.good)], ["cost", (e) => money(e.cost_usd)],
    ["per good answer", (e) => e.usd_per_good == null ? "-" : money(e.usd_per_good)]]));
  section("endpoints", "Endpoints", table(s.by_endpoint, groupCols("endpoint", "requests", true),
    "No web requests yet: the routes of a web app instrumented with OpenTelemetry (FastAPI, Flask, Django ...) " +
    "show here with the model calls, tokens and dollars each request spent."));
  section("alerts-list", "Alerts", s.health.alerts.length ? table(s.health.alerts, [
    ["severity", (a) => '<span class="' + (a.severity === "critical" ? "fail" : "") + '">' + esc(a.severity) +
      "</span>"], ["alert", (a) => esc(a.name), "txt"], ["message", (a) => esc(a.message), "msg"]])
    : '<p class="empty">No thresholds crossed (health: ' + esc(s.health.status) + ").</p>");
  const absent = (key) => (s.absent || []).includes(key) &&
    '<p class="empty">Not in Prometheus, which keeps metrics only: see the local store or your traces.</p>';
  $("retrieval").hidden = !(s.by_retrieval || []).length;
  if (!$("retrieval").hidden) section("retrieval", "Retrieval", table(s.by_retrieval, [
    ["operation", (r) => esc(r.operation), "txt"], ["store", (r) => esc(r.store), "txt"],
    ["collection", (r) => esc(r.collection || "-"), "txt"], ["calls", (r) => num(r.calls)],
    ["failed", (r) => r.failed ? '<span class="fail">' + num(r.failed) + "</span>" : "0"],
    ["errors", (r) => pct(r.error_rate)], ["avg", (r) => dur(r.avg_s)], ["p50", (r) => dur(r.p50_s)],
    ["p95", (r) => dur(r.p95_s)], ["rows", (r) => r.rows == null ? "-" : num(r.rows)]]));
  $("instances").hidden = !(s.by_instance || []).length;
  if (!$("instances").hidden) section("instances", "By " + s.instance_label,
    table(s.by_instance, groupCols(s.instance_label, "calls", true)));
  $("processes").hidden = !(s.processes || []).length;
  if (!$("processes").hidden) section("processes", "Processes", table(s.processes, [
    ["process", (p) => esc(p.name)], ["service", (p) => esc(p.service || "-"), "txt"],
    ["uptime", (p) => dur(p.uptime_s)], ["memory", (p) => bytes(p.memory_bytes)],
    ["CPU", (p) => pct(p.cpu_utilization)], ["CPU time", (p) => dur(p.cpu_seconds)]]));
  section("runs", "Recent runs", absent("recent_runs") || table(s.recent_runs, [
    ["started", (r) => esc(when(r.started_at))],
    ["run", (r) => '<a href="runs/' + esc(r.trace_id) + runQuery + '">' + esc(r.kind + " " + r.name) + "</a>",
      "txt"],
    ["status", (r) => r.ok ? '<span class="okc">ok</span>' : '<span class="fail">' + esc(r.error_type) + "</span>",
      "txt"],
    ["duration", (r) => dur(r.duration_s)], ["model calls", (r) => num(r.model_calls)],
    ["tools", (r) => num(r.tool_calls)], ["tokens", (r) => num(r.input_tokens + r.output_tokens)],
    ["cost", (r) => money(r.cost_usd)]]));
  section("error-types", "Errors by type", table(s.error_types, [["error", (g) => '<span class="fail">' +
    esc(g.error_type) + "</span>", "txt"], ["where", (g) => esc(g.kind + " " + g.name), "txt"],
    ["count", (g) => num(g.count)], ["last seen", (g) => esc(when(g.last_at))],
    ["last message", (g) => esc(g.last_message), "msg"]]));
  section("errors", "Recent errors", absent("recent_errors") || table(s.recent_errors, [["at", (e) => esc(when(e.at))],
    ["where", (e) => esc(e.kind + " " + e.name), "txt"], ["error", (e) => '<span class="fail">' +
    esc(e.error_type) + "</span>", "txt"], ["message", (e) => esc(e.message), "msg"]]));
}
async function refresh() {
  const q = new URLSearchParams(DATA.query).toString();
  try {
    const [summary, series, evaluations] = await Promise.all([
      fetch("api/summary?" + q).then((r) => r.json()), fetch("api/timeseries?" + q).then((r) => r.json()),
      fetch("api/evaluations?" + q).then((r) => r.json())]);
    if (!summary.error) draw({summary, series, evaluations: evaluations.error ? {} : evaluations});
  } catch (e) { $("meta").textContent = "refresh failed: " + e; }
}
draw(DATA);
if (DATA.refresh > 0) setInterval(refresh, DATA.refresh * 1000);
</script>
</body>
</html>
"""
