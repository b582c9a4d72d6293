"""The summary of a fleet, from a Prometheus server that scrapes (or receives) every process's OTel metrics.

Every number is an exact increase over the window (``promql.increase``: restarts counted once, no
extrapolation), fetched once per metric at the finest grouping needed and added up here, so the overview, the
per-model, per-provider and per-instance tables come from the same samples and always add up. Latency
percentiles are Prometheus's ``histogram_quantile`` on the bucket counts (computed here, same algorithm), so
they are bucket estimates, where the store has every call's exact duration.

What only spans carry (runs, error messages, the slowest call, cached and reasoning tokens, calls per endpoint)
is listed in ``Summary.absent``.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import promql
from .health import Thresholds, evaluate
from .queries import INSTANCE_LABELS, Filters
from .stats import ErrorGroup, Point, ProcessStats, RetrievalStats, Stats, Summary
from .timeparse import parse_duration

DEFAULT_WINDOW_S = 86400.0
"""The window of a summary asked for "everything": Prometheus keeps weeks, but a day is what people mean."""

_PARALLEL_QUERIES = 6
"""Queries of one summary sent at once (Prometheus runs up to 20 side by side by default)."""

MAX_STEPS = 5760
"""Steps of one window at most (a day at 15 s, the usual scrape interval): bounds the cost of a query."""

DEFAULT_STEP_S = 15.0
"""Step of the exact increase when Prometheus reports no scrape interval (data pushed by remote write)."""

ABSENT = (
    "recent_runs",
    "recent_errors",
    "error_messages",
    "max_latency",
    "cached_tokens",
    "reasoning_tokens",
    "endpoint_model_calls",
    "export_dropped",  # agentmetrics_export_dropped has no destination label; its trace drops are in dropped_spans
)

MODEL_CALLS = "gen_ai_client_operation_duration_seconds"
TOKENS = "gen_ai_client_token_usage_sum"
TOKEN_TYPE = "gen_ai_token_type"
LATEST_TOKENS = (
    ("input", "gen_ai_client_inference_usage_input_tokens_total"),
    ("output", "gen_ai_client_inference_usage_output_tokens_total"),
)
"""The same tokens under the latest GenAI names (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental): read
too, so a fleet on either set, or moving from one to the other, adds up; a group both report counts once."""
COST = "gen_ai_usage_cost_USD_sum"
UNPRICED = "agentmetrics_calls_unpriced_total"
TOOLS = "agentmetrics_tool_duration_seconds"
STORE_OPERATIONS = "db_client_operation_duration_seconds"  # retrievals and writes (gen_ai_operation_name says)
STORE_ROWS = "db_client_response_returned_rows_sum"
STORE_KEY = ("gen_ai_operation_name", "db_system_name", "db_collection_name")
AGENTS = "agentmetrics_agent_duration_seconds"
AGENT_MODEL_CALLS = "agentmetrics_agent_model_calls_sum"
AGENT_COST = "agentmetrics_agent_cost_USD_sum"
ENDPOINTS = "http_server_request_duration_seconds"
ACTIVE = "agentmetrics_calls_active"
DROPPED = "agentmetrics_export_dropped_total"

MODEL = "gen_ai_request_model"
PROVIDER = "gen_ai_provider_name"
PROCESSING = "agentmetrics_processing"  # batch results apart from interactive calls
AGENT = "gen_ai_agent_name"
TOOL = "gen_ai_tool_name"
ROUTE = "http_route"
ERROR = "error_type"
TARGET = ("job", "instance")

Vector = list[tuple[dict[str, str], float]]


class PrometheusError(OSError):
    """The server cannot be reached or refused a query; the message says which and where."""


class Prometheus:
    """The HTTP API (``/api/v1/query``, ``/api/v1/query_range``, ``/api/v1/targets``), with the standard library."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--prometheus {url!r} is not a server URL; use e.g. http://127.0.0.1:9090")
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.timeout_s = timeout_s

    def _get(self, path: str, params: dict[str, str]) -> Any:
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                answer = json.loads(error.read())
            except ValueError:
                raise PrometheusError(f"Prometheus at {self.url} answered HTTP {error.code}") from None
        except (OSError, ValueError) as error:
            raise PrometheusError(f"cannot reach Prometheus at {self.url} ({error}); check --prometheus") from None
        if answer.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url} refused a query: {answer.get('error', answer)}")
        return answer["data"]

    def vector(self, expr: str, at: float) -> Vector:
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return [(_labels(row["metric"]), float(row["value"][1])) for row in data["result"]]

    def matrix(
        self, expr: str, start: float, end: float, step_s: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        data = self._get("/api/v1/query_range", params)
        return [(_labels(row["metric"]), [(float(t), float(v)) for t, v in row["values"]]) for row in data["result"]]

    def scrape_interval_s(self) -> float | None:
        """The shortest scrape interval of the active targets (``None`` without targets: remote-written data)."""
        data = self._get("/api/v1/targets", {"state": "active"})
        intervals = [
            parse_duration(t["scrapeInterval"]) for t in data.get("activeTargets", []) if t.get("scrapeInterval")
        ]
        return min(intervals) if intervals else None


def tokens_total(matchers: dict[str, str], extra: str, window_s: float, step_s: float, by: tuple[str, ...]) -> str:
    """Tokens by type, from the v1.41.1 histogram or the latest conventions' counters (``TOKENS`` as rows read it).
    ``or`` keeps the first set's series where both report the same group (a process emitting both names); the
    groups are per target too, so in a fleet where some processes use one set and some the other, each counts."""
    by = tuple(dict.fromkeys((*by, *TARGET)))
    legacy = promql.total(promql.selector(TOKENS, matchers, extra), window_s, step_s, by)
    others = tuple(label for label in by if label != TOKEN_TYPE)
    latest = [
        f"label_replace({promql.total(promql.selector(metric, matchers, extra), window_s, step_s, others)}, "
        f'"{TOKEN_TYPE}", "{kind}", "", "")'
        for kind, metric in LATEST_TOKENS
    ]
    return " or ".join([legacy, *latest])


def _labels(metric: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metric.items() if k != "__name__"}


@dataclass(slots=True)
class _Timing:
    """Counts and a histogram of one group, summed from the series that fall in it."""

    calls: float = 0.0
    failed: float = 0.0
    total_s: float = 0.0
    buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))

    def stats(self, name: str) -> Stats:
        st = Stats(name=name, calls=_whole(self.calls), failed=_whole(self.failed))
        st.successful = st.calls - st.failed
        if st.calls:
            st.success_rate = st.successful / st.calls
            st.error_rate = st.failed / st.calls
            st.avg_s = self.total_s / self.calls
            st.p50_s, st.p95_s, st.p99_s = (promql.bucket_quantile(q, self.buckets) for q in (0.50, 0.95, 0.99))
        return st


@dataclass(slots=True)
class _Usage:
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost: float = 0.0
    unpriced: float = 0.0
    model_calls: float | None = None

    def add_to(self, st: Stats) -> Stats:
        st.input_tokens, st.output_tokens = _whole(self.input_tokens), _whole(self.output_tokens)
        st.cost_usd, st.unpriced_calls = self.cost, _whole(self.unpriced)
        st.model_calls = st.calls if self.model_calls is None else _whole(self.model_calls)
        return st


def _whole(value: float) -> int:
    return int(round(value))


Key = Callable[[dict[str, str]], str | None]


class PrometheusSource:
    """The summary API over a Prometheus server. Needs the metrics of ``instrument(prometheus=...)`` or of the
    OTLP path through a collector (names as in docs/operations.md)."""

    def __init__(self, url: str, *, step_s: float | None = None) -> None:
        self.client = Prometheus(url)
        self.location = self.client.url
        self._step_s = step_s

    def exists(self) -> bool:
        return True

    # ---- the questions -------------------------------------------------------------------------------------

    def summary(
        self,
        filters: Filters | None = None,
        thresholds: Thresholds | None = None,
        *,
        recent: int = 20,
        by: str | None = None,
        now: float | None = None,
    ) -> Summary:
        if by is not None and by not in INSTANCE_LABELS:
            raise ValueError(f"--by {by!r}: use one of {', '.join(INSTANCE_LABELS)}")
        f = filters or Filters()
        t = thresholds or Thresholds.from_env()
        now = time.time() if now is None else now
        window = f.since if f.since is not None else DEFAULT_WINDOW_S
        q = _Query(self, f, now, by)

        if q.scope:
            q.targets()  # once, before the queries that group by it run side by side
        with ThreadPoolExecutor(max_workers=_PARALLEL_QUERIES) as pool:
            jobs: dict[str, Future[Any] | None] = {
                "calls": pool.submit(q.timing, MODEL_CALLS, window, (MODEL, PROVIDER, PROCESSING)),
                "usage": pool.submit(q.usage, window),
                "tools": pool.submit(q.timing, TOOLS, window, (TOOL,), model_filters=False),
                "agents": pool.submit(q.timing, AGENTS, window, (AGENT,), model_filters=False),
                "agent_usage": pool.submit(q.agent_usage, window),
                "endpoints": pool.submit(q.timing, ENDPOINTS, window, (ROUTE,), model_filters=False),
                "recent": pool.submit(q.timing, MODEL_CALLS, t.window_s, ()),
                # Spend over the budget window only when there is a budget: it is the longest window.
                "spend": pool.submit(q.rows, COST, t.budget_window_s, ()) if t.budget_usd is not None else None,
                "uptime": pool.submit(q.uptime),
                "active": pool.submit(q.instant_sum, ACTIVE),
                "dropped": pool.submit(q.rows, DROPPED, window, (), 'agentmetrics_export_signal="traces"'),
                "processes": pool.submit(q.processes),
                "retrievals": pool.submit(q.timing, STORE_OPERATIONS, window, STORE_KEY, model_filters=False),
                "store_rows": pool.submit(q.rows, STORE_ROWS, window, STORE_KEY, model_filters=False),
            }
            got: dict[str, Any] = {name: job.result() if job else [] for name, job in jobs.items()}
        calls, usage_rows, tools, agents = got["calls"], got["usage"], got["tools"], got["agents"]
        agent_usage, endpoints = got["agent_usage"], got["endpoints"]

        def grouped(key: Key) -> list[Stats]:
            timings, usages = _group_timing(calls, key), _group_usage(usage_rows, key)
            return _by_cost_then_count(usages.get(n, _Usage()).add_to(tm.stats(n)) for n, tm in timings.items())

        overall = (
            _group_usage(usage_rows, lambda _: "all")
            .get("all", _Usage())
            .add_to(_group_timing(calls, lambda _: "all").get("all", _Timing()).stats("all"))
        )
        by_model = grouped(lambda lb: lb.get(MODEL) or "unknown")

        recent_calls = _group_timing(got["recent"], lambda _: "all").get("all", _Timing()).stats("all")
        health = evaluate(recent_calls, sum(v for _, v in got["spend"]), t)

        absent = list(ABSENT)
        if not agent_usage.get("tokens_labelled"):
            absent.append("agent_tokens")
        return Summary(
            generated_at=now,
            store=self.location,
            since=f.since if f.since is not None else window,
            uptime_s=got["uptime"],
            active_calls=_whole(got["active"]),
            dropped_spans=_whole(sum(v for _, v in got["dropped"])),
            overall=overall,
            models_used=[s.name for s in sorted(by_model, key=lambda s: s.name) if s.calls],
            by_model=by_model,
            by_provider=grouped(lambda lb: lb.get(PROVIDER) or "unknown"),
            by_tool=_by_cost_then_count(tm.stats(n) for n, tm in _group_timing(tools, lambda lb: lb.get(TOOL)).items()),
            by_agent=_by_cost_then_count(
                agent_usage["by_agent"].get(n, _Usage(model_calls=0)).add_to(tm.stats(n))
                for n, tm in _group_timing(agents, lambda lb: lb.get(AGENT)).items()
            ),
            by_endpoint=_by_cost_then_count(
                tm.stats(n) for n, tm in _group_timing(endpoints, lambda lb: lb.get(ROUTE)).items()
            ),
            recent_runs=[],
            recent_errors=[],
            error_types=_error_groups(calls, tools, agents),
            health=health,
            filters=f.describe(),
            source="prometheus",
            by_instance=grouped(q.instance_key) if by else [],
            instance_label=by,
            by_processing=(
                grouped(lambda lb: lb.get(PROCESSING) or "interactive")
                if any(lb.get(PROCESSING) for _, lb, _ in usage_rows)
                else []
            ),
            absent=absent,
            processes=got["processes"],
            by_retrieval=_by_retrieval(got["retrievals"], got["store_rows"]),
        )

    def timeseries(
        self, filters: Filters | None = None, *, bucket: str | float = "auto", now: float | None = None
    ) -> list[Point]:
        """Model calls per minute or hour, as the store's ``timeseries`` (one range query per number); ``"auto"``
        takes hours for windows over six hours."""
        f = filters or Filters()
        if bucket == "auto":
            bucket = "hour" if f.since is not None and f.since > 6 * 3600 else "minute"
        if bucket not in ("minute", "hour"):
            raise ValueError(f"bucket={bucket!r}; use 'auto', 'minute' or 'hour'")
        size = 60.0 if bucket == "minute" else 3600.0
        now = time.time() if now is None else now
        span = min(f.since if f.since is not None else size * 59, size * 24 * 60)
        first = (now - span) // size * size
        points = {first + i * size: Point(t=first + i * size) for i in range(int((now - first) // size) + 1)}
        q = _Query(self, f, now, None)
        step = q.step(size)
        totals: dict[float, float] = defaultdict(float)

        def each(metric: str, by: tuple[str, ...], extra: str = "") -> Iterable[tuple[dict[str, str], float, float]]:
            grouping = tuple(dict.fromkeys(by + q.scope))
            if metric == TOKENS:
                expr = tokens_total(q.matchers(), extra, size, step, grouping)
            else:
                expr = promql.total(promql.selector(metric, q.matchers(), extra), size, step, grouping)
            for labels, values in self.client.matrix(expr, first + size, first + size * len(points), size):
                if q.keep(labels):
                    for at, value in values:
                        yield labels, at - size, value

        for labels, start, value in each(f"{MODEL_CALLS}_count", (ERROR,)):
            if start in points:
                points[start].calls += _whole(value)
                points[start].failed += _whole(value) if labels.get(ERROR) else 0
        for _, start, value in each(f"{MODEL_CALLS}_sum", ()):
            if start in points:
                totals[start] += value
        for labels, start, value in each(TOKENS, ("gen_ai_token_type",)):
            if start in points:
                kind = labels.get("gen_ai_token_type")
                if kind == "input":
                    points[start].input_tokens += _whole(value)
                elif kind == "output":
                    points[start].output_tokens += _whole(value)
        for _, start, value in each(COST, ()):
            if start in points:
                points[start].cost_usd += value
        for start, point in points.items():
            if point.calls:
                point.avg_s = totals[start] / point.calls
        return [points[k] for k in sorted(points)]

    def run_detail(self, trace_id: str) -> dict[str, Any]:
        raise LookupError("runs are spans and Prometheus keeps metrics only: open runs in the store or your traces")

    # ---- internals -----------------------------------------------------------------------------------------

    def step_s(self) -> float:
        if self._step_s is None:
            self._step_s = self.client.scrape_interval_s() or DEFAULT_STEP_S
        return self._step_s


class _Query:
    """One summary's filters, clock and per-target labels (``service.name`` ... from ``target_info``)."""

    def __init__(self, source: PrometheusSource, f: Filters, now: float, by: str | None) -> None:
        self.client, self.f, self.now, self.by = source.client, f, now, by
        self.step_s = source.step_s()
        # Per-target rows are needed only to group or filter by what the target is (its resource attributes).
        self.scope: tuple[str, ...] = TARGET if (by is not None or f.service is not None) else ()
        self._targets: dict[tuple[str, str], dict[str, str]] | None = None

    def step(self, window_s: float) -> float:
        """The scrape interval, or a whole multiple of it that keeps a window to ``MAX_STEPS`` steps (a day at a
        1 s scrape): sums still telescope exactly; only a restart and a regrowth past the old count within one
        step would go unseen."""
        return self.step_s * max(1, math.ceil(window_s / self.step_s / MAX_STEPS))

    def at(self, step: float) -> float:
        """Subquery steps fall on multiples of the step: ending the window on the next one (less than a step
        ahead) puts a sample scraped since the last one inside it."""
        return math.ceil(self.now / step) * step

    def matchers(self, model_filters: bool = True) -> dict[str, str]:
        out: dict[str, str] = {}
        if model_filters and self.f.model is not None:
            out[MODEL] = self.f.model
        if model_filters and self.f.provider is not None:
            out[PROVIDER] = self.f.provider
        if self.f.agent is not None:
            out[AGENT] = self.f.agent
        return out

    def rows(
        self, metric: str, window_s: float, by: tuple[str, ...], extra: str = "", model_filters: bool = True
    ) -> Vector:
        grouping = tuple(dict.fromkeys(by + self.scope))
        step = self.step(window_s)
        matchers = self.matchers(model_filters)
        if metric == TOKENS:
            expr = tokens_total(matchers, extra, window_s, step, grouping)
        else:
            expr = promql.total(promql.selector(metric, matchers, extra), window_s, step, grouping)
        rows = self.client.vector(expr, self.at(step))
        return [(labels, value) for labels, value in rows if self.keep(labels)]

    def timing(
        self, family: str, window_s: float, by: tuple[str, ...], model_filters: bool = True
    ) -> list[tuple[str, dict[str, str], float]]:
        """The ``_count`` (by error type), ``_sum`` and ``_bucket`` rows of a histogram, tagged with which."""
        out: list[tuple[str, dict[str, str], float]] = []
        for part, extra_by in (("count", (ERROR,)), ("sum", ()), ("bucket", ("le",))):
            out += [
                (part, lb, v)
                for lb, v in self.rows(f"{family}_{part}", window_s, by + extra_by, model_filters=model_filters)
            ]
        return out

    def usage(self, window_s: float) -> list[tuple[str, dict[str, str], float]]:
        by = (MODEL, PROVIDER, PROCESSING, "gen_ai_token_type")
        out = [("tokens", lb, v) for lb, v in self.rows(TOKENS, window_s, by)]
        out += [("cost", lb, v) for lb, v in self.rows(COST, window_s, (MODEL, PROVIDER, PROCESSING))]
        out += [("unpriced", lb, v) for lb, v in self.rows(UNPRICED, window_s, (MODEL, PROVIDER))]
        return out

    def agent_usage(self, window_s: float) -> dict[str, Any]:
        """Model calls and dollars per agent from the per-run histograms; tokens when the model-call metrics carry
        ``gen_ai.agent.name`` (``metric_attributes=["gen_ai.agent.name"]``)."""
        by_agent: dict[str, _Usage] = defaultdict(lambda: _Usage(model_calls=0.0))
        for labels, value in self.rows(AGENT_MODEL_CALLS, window_s, (AGENT,)):
            by_agent[labels.get(AGENT, "")].model_calls = (by_agent[labels.get(AGENT, "")].model_calls or 0.0) + value
        for labels, value in self.rows(AGENT_COST, window_s, (AGENT,)):
            by_agent[labels.get(AGENT, "")].cost += value
        labelled = False
        for labels, value in self.rows(TOKENS, window_s, (AGENT, "gen_ai_token_type"), extra=f'{AGENT}!=""'):
            labelled = True
            usage = by_agent[labels[AGENT]]
            if labels.get("gen_ai_token_type") == "input":
                usage.input_tokens += value
            elif labels.get("gen_ai_token_type") == "output":
                usage.output_tokens += value
        return {"by_agent": by_agent, "tokens_labelled": labelled}

    def instant_sum(self, metric: str) -> float:
        grouping = f" by ({', '.join(self.scope)})" if self.scope else ""
        rows = self.client.vector(f"sum{grouping} ({promql.selector(metric, self.matchers())})", self.now)
        return sum(v for labels, v in rows if self.keep(labels))

    def uptime(self) -> float | None:
        """Since the oldest instrumented process still scraped started (``process_start_time_seconds`` of the
        targets that serve our ``target_info``)."""
        expr = "process_start_time_seconds and on(job, instance) target_info"
        starts = [v for labels, v in self.client.vector(expr, self.now) if self.keep(labels)]
        return max(0.0, self.now - min(starts)) if starts else None

    def processes(self) -> list[ProcessStats]:
        """Memory and CPU of every instrumented process scraped now: the OTel process metrics
        (``process_metrics=True``), else those of ``prometheus_client``'s process collector on the same endpoint."""
        ours = "and on(job, instance) target_info"
        queries = {
            "memory": f"(max by (job, instance) (process_memory_usage_bytes) "
            f"or max by (job, instance) (process_resident_memory_bytes)) {ours}",
            "cpu": f"(sum by (job, instance) (process_cpu_time_seconds_total) "
            f"or sum by (job, instance) (process_cpu_seconds_total)) {ours}",
            "rate": f"(sum by (job, instance) (rate(process_cpu_time_seconds_total[5m])) "
            f"or sum by (job, instance) (rate(process_cpu_seconds_total[5m]))) {ours}",
            "start": f"max by (job, instance) (process_start_time_seconds) {ours}",
        }
        values: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        labels_of: dict[tuple[str, str], dict[str, str]] = {}
        for what, expr in queries.items():
            for labels, value in self.client.vector(expr, self.now):
                key = (labels.get("job", ""), labels.get("instance", ""))
                values[key][what] = value
                labels_of[key] = labels
        out = []
        for key, got in values.items():
            if "memory" not in got or not self.keep(labels_of[key]):
                continue
            start = got.get("start")
            out.append(
                ProcessStats(
                    name=key[1],
                    service=self.attribute(labels_of[key], "service.name"),
                    uptime_s=max(0.0, self.now - start) if start else None,
                    memory_bytes=_whole(got["memory"]),
                    cpu_seconds=got.get("cpu"),
                    cpu_utilization=got.get("rate"),
                )
            )
        return sorted(out, key=lambda p: (-(p.memory_bytes or 0), p.name))

    # ---- per-target labels -------------------------------------------------------------------------------

    def targets(self) -> dict[tuple[str, str], dict[str, str]]:
        """``target_info`` of every target seen in the window; of a target whose process restarted (same
        address, new ``service.instance.id``), the latest."""
        if self._targets is None:
            window = promql.duration(self.f.since if self.f.since is not None else DEFAULT_WINDOW_S)
            step = self.step(self.f.since if self.f.since is not None else DEFAULT_WINDOW_S)
            seen = f"max_over_time(timestamp(target_info)[{window}:{promql.duration(step)}])"
            latest: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
            for labels, at in self.client.vector(seen, self.at(step)):
                key = (labels.get("job", ""), labels.get("instance", ""))
                if key not in latest or at > latest[key][0]:
                    latest[key] = (at, labels)
            for labels, _ in self.client.vector("target_info", self.now):  # the process there now, if any
                latest[(labels.get("job", ""), labels.get("instance", ""))] = (math.inf, labels)
            self._targets = {key: labels for key, (_, labels) in latest.items()}
        return self._targets

    def attribute(self, labels: dict[str, str], attribute: str) -> str | None:
        name = promql.label(attribute)
        if labels.get(name):  # series that carry it themselves (a collector's resource_to_telemetry_conversion)
            return labels[name]
        info = self.targets().get((labels.get("job", ""), labels.get("instance", "")), {})
        if info.get(name):
            return info[name]
        if attribute == "host":
            return info.get("host_name") or labels.get("instance", "").rpartition(":")[0] or None
        return None

    def instance_key(self, labels: dict[str, str]) -> str:
        return (self.attribute(labels, self.by) if self.by else None) or "unknown"

    def keep(self, labels: dict[str, str]) -> bool:
        return self.f.service is None or self.attribute(labels, "service.name") == self.f.service


def _group_timing(rows: list[tuple[str, dict[str, str], float]], key: Key) -> dict[str, _Timing]:
    groups: dict[str, _Timing] = {}
    for part, labels, value in rows:
        name = key(labels)
        if name is None:
            continue
        timing = groups.setdefault(name, _Timing())
        if part == "count":
            timing.calls += value
            if labels.get(ERROR):
                timing.failed += value
        elif part == "sum":
            timing.total_s += value
        else:
            timing.buckets[float(labels["le"])] += value
    return {name: timing for name, timing in groups.items() if _whole(timing.calls) > 0}


def _by_retrieval(timings: list[tuple[str, dict[str, str], float]], rows: Vector) -> list[RetrievalStats]:
    """The Retrieval table from ``db.client.operation.duration`` and ``db.client.response.returned_rows``."""

    def key(labels: dict[str, str]) -> str:
        return "\x00".join(labels.get(name, "") for name in STORE_KEY)

    returned: dict[str, float] = defaultdict(float)
    for labels, value in rows:
        returned[key(labels)] += value
    out = []
    for name, timing in _group_timing(timings, key).items():
        operation, store, collection = name.split("\x00")
        st = timing.stats(name)
        out.append(
            RetrievalStats(
                operation=operation or "retrieval",
                store=store or "unknown",
                collection=collection or None,
                calls=st.calls,
                failed=st.failed,
                error_rate=st.error_rate,
                avg_s=st.avg_s,
                p50_s=st.p50_s,
                p95_s=st.p95_s,
                rows=_whole(returned[name]) if name in returned else None,
            )
        )
    reads = ("retrieval", "search_memory")
    return sorted(out, key=lambda r: (r.operation not in reads, -r.calls, r.store, r.collection or ""))


def _group_usage(rows: list[tuple[str, dict[str, str], float]], key: Key) -> dict[str, _Usage]:
    groups: dict[str, _Usage] = defaultdict(_Usage)
    for part, labels, value in rows:
        name = key(labels)
        if name is None:
            continue
        usage = groups[name]
        if part == "cost":
            usage.cost += value
        elif part == "unpriced":
            usage.unpriced += value
        elif labels.get("gen_ai_token_type") == "input":
            usage.input_tokens += value
        elif labels.get("gen_ai_token_type") == "output":
            usage.output_tokens += value
    return groups


def _by_cost_then_count(items: Iterable[Stats]) -> list[Stats]:
    return sorted(items, key=lambda s: (-s.cost_usd, -s.calls, s.name))


def _error_groups(*families: list[tuple[str, dict[str, str], float]]) -> list[ErrorGroup]:
    """Failures per ``error.type`` and place, from the counts (no time of the last one, no message)."""
    counts: dict[tuple[str, str, str], float] = defaultdict(float)
    for kind, rows in zip(("model", "tool", "agent"), families, strict=True):
        name_label = {"model": MODEL, "tool": TOOL, "agent": AGENT}[kind]
        for part, labels, value in rows:
            if part == "count" and labels.get(ERROR):
                counts[(labels[ERROR], kind, labels.get(name_label) or "unknown")] += value
    groups = [
        ErrorGroup(*key, count=_whole(v), last_at=None, last_message=None) for key, v in counts.items() if _whole(v)
    ]
    return sorted(groups, key=lambda g: (-g.count, g.error_type, g.name))
