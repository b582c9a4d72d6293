"""Health and alerts from thresholds the user sets: error rate, latency, failures, spend over a budget window.

Warnings make the status ``degraded``, critical alerts ``unhealthy``. Rates need a few calls before they alarm
(``min_calls``), so one failed call out of one does not page anyone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .._config import ConfigError
from .stats import Alert, Health, Stats
from .timeparse import parse_duration


def _env_float(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() in ("off", "none"):
        return None
    try:
        return float(raw.strip().rstrip("%")) / (100 if raw.strip().endswith("%") else 1)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to e.g. {default} or off") from None


def _env_duration(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse_duration(raw)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


@dataclass(slots=True)
class Thresholds:
    """When to alert. ``None`` switches a check off. Rates are fractions (0.1 = 10%)."""

    error_rate: float | None = 0.10
    p95_latency_s: float | None = 30.0
    max_failures: float | None = None
    budget_usd: float | None = None
    budget_window_s: float = 86400.0
    window_s: float = 900.0
    min_calls: int = 5

    @classmethod
    def from_env(cls) -> Thresholds:
        """``AGENTMETRICS_ALERT_*`` variables over the defaults (see docs/configuration.md)."""
        base = cls()
        return cls(
            error_rate=_env_float("AGENTMETRICS_ALERT_ERROR_RATE", base.error_rate),
            p95_latency_s=_env_float("AGENTMETRICS_ALERT_P95_LATENCY", base.p95_latency_s),
            max_failures=_env_float("AGENTMETRICS_ALERT_FAILURES", base.max_failures),
            budget_usd=_env_float("AGENTMETRICS_ALERT_BUDGET", base.budget_usd),
            budget_window_s=_env_duration("AGENTMETRICS_ALERT_BUDGET_WINDOW", base.budget_window_s),
            window_s=_env_duration("AGENTMETRICS_ALERT_WINDOW", base.window_s),
        )


def _fmt_window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def evaluate(recent: Stats, spend_usd: float, t: Thresholds) -> Health:
    """Alerts for the calls of the recent window (``recent``) and the spend of the budget window."""
    alerts: list[Alert] = []
    window = _fmt_window(t.window_s)
    if t.error_rate is not None and recent.calls >= t.min_calls and recent.error_rate is not None:
        rate = recent.error_rate
        if rate > t.error_rate:
            severity = "critical" if rate >= min(1.0, 2 * t.error_rate) or rate >= 0.5 else "warning"
            alerts.append(
                Alert(
                    "error_rate",
                    severity,
                    f"{rate:.0%} of {recent.calls} model calls failed in the last {window} "
                    f"(threshold {t.error_rate:.0%})",
                    rate,
                    t.error_rate,
                )
            )
    p95 = recent.p95_s
    if t.p95_latency_s is not None and recent.calls >= t.min_calls and p95 is not None and p95 > t.p95_latency_s:
        alerts.append(
            Alert(
                "latency",
                "warning",
                f"p95 latency {p95:.2f}s in the last {window} (threshold {t.p95_latency_s:g}s)",
                p95,
                t.p95_latency_s,
            )
        )
    if t.max_failures is not None and recent.failed > t.max_failures:
        alerts.append(
            Alert(
                "failures",
                "critical",
                f"{recent.failed} failed model calls in the last {window} (threshold {t.max_failures:g})",
                float(recent.failed),
                t.max_failures,
            )
        )
    if t.budget_usd is not None:
        budget_window = _fmt_window(t.budget_window_s)
        if spend_usd > t.budget_usd:
            severity = "critical"
        elif spend_usd > 0.8 * t.budget_usd:
            severity = "warning"
        else:
            severity = ""
        if severity:
            alerts.append(
                Alert(
                    "budget",
                    severity,
                    f"${spend_usd:.4f} spent in the last {budget_window}, budget ${t.budget_usd:g}",
                    spend_usd,
                    t.budget_usd,
                )
            )
    if any(a.severity == "critical" for a in alerts):
        status = "unhealthy"
    elif alerts:
        status = "degraded"
    else:
        status = "healthy"
    return Health(status=status, alerts=alerts, window_s=t.window_s)
