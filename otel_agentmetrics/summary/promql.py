"""PromQL for the fleet view: exact, restart-safe increases of counters over a window, and label selectors.

Prometheus's own ``increase()`` extrapolates to the window's edges (12 calls can read as 12.4) and ignores the
first sample of a series that starts inside the window (a process's calls before its first scrape). The report
wants whole counts that equal what the processes made, so :func:`increase` sums the sample-to-sample steps of
each series instead:

- each step ``S`` (the scrape interval) adds ``value - previous value``, the previous value being the last sample
  in the 5 minutes before the step: a range selector, so a failed scrape's staleness marker does not hide it;
- a value lower than the previous one is a counter reset (the process restarted on the same address): the step
  adds the new value, counted from zero, so nothing is counted twice;
- a series with no sample in that lookback (a process that started, or a new label set) adds its whole value:
  cumulative counters start at zero when the process starts. (So a target that could not be scraped for longer
  than five minutes, and comes back without having restarted, counts again: keep scrapes working.)

The steps telescope, so a series that lives through the window adds exactly ``last - first``.
"""

from __future__ import annotations

import re

LOOKBACK_STEPS = 20  # kept for anyone who imported it; the lookback no longer depends on the step
MAX_LOOKBACK_S = 300.0
"""How far back the previous sample of a step may be: Prometheus's own 5-minute staleness lookback, the window in
which the step's own instant selector still finds a sample. A shorter one (it was 20 scrape intervals: 20 s at a
1 s interval) took a series whose scrapes failed for a while (a loaded machine, a scrape timing out) for a new
one, and added its whole value at every step of the gap: the fleet view's per-minute series overcounted."""

_NAME = re.compile(r"[^a-zA-Z0-9_]")


def label(attribute: str) -> str:
    """An attribute name as the Prometheus exporters spell it as a label: ``service.name`` -> ``service_name``."""
    return _NAME.sub("_", attribute)


def duration(seconds: float) -> str:
    """Seconds as a PromQL duration (whole milliseconds, the finest it takes)."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def selector(metric: str, matchers: dict[str, str] | None = None, extra: str = "") -> str:
    """``metric{k="v", ...}`` with exact-match values, plus raw matchers in ``extra`` (``error_type!=""``)."""
    parts = [f"{k}={quote(v)}" for k, v in sorted((matchers or {}).items())]
    if extra:
        parts.append(extra)
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def increase(series: str, window_s: float, step_s: float) -> str:
    """Per series: how much the counter ``series`` grew in the last ``window_s`` seconds, exactly (see above)."""
    step = duration(step_s)
    lookback = duration(MAX_LOOKBACK_S)
    previous = f"last_over_time({series}[{lookback}] offset {step})"
    # `+ 0` drops the metric name so both branches of `or` are the same series.
    growth = f"(({series} - {previous}) >= 0 or ({series} + 0))"
    return f"sum_over_time({growth}[{duration(window_s)}:{step}])"


def total(series: str, window_s: float, step_s: float, by: tuple[str, ...] = ()) -> str:
    """The increase summed over every series, or per value of the ``by`` labels."""
    grouping = f" by ({', '.join(by)})" if by else ""
    return f"sum{grouping} ({increase(series, window_s, step_s)})"


def quantile(q: float, bucket_series: str, window_s: float, step_s: float, by: tuple[str, ...] = ()) -> str:
    """The ``q`` quantile of a histogram's observations in the window, per ``by`` group."""
    return f"histogram_quantile({q:g}, {total(bucket_series, window_s, step_s, ('le', *by))})"


def bucket_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's ``histogram_quantile`` on cumulative bucket counts (upper bound -> count), computed here so
    one query of the buckets serves every grouping of the report. ``None`` when there are no observations."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != float("inf"):
        return None
    counts = [buckets[b] for b in bounds]
    for i in range(1, len(counts)):  # as Prometheus: cumulative counts never go down
        counts[i] = max(counts[i], counts[i - 1])
    observations = counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    b = next((i for i in range(len(bounds) - 1) if counts[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)
