"""The process's own resources (memory, CPU, threads) as OpenTelemetry metrics, for ``process_metrics=True``.

The metrics come from ``opentelemetry-instrumentation-system-metrics`` with its process metrics only (no
system-wide ones): ``process.memory.usage``, ``process.memory.virtual``, ``process.cpu.time``,
``process.thread.count``. They are observed when a reader collects (a Prometheus scrape, an OTLP push), never on
the app's calls. The local store's heartbeat records the same two numbers people ask for (resident memory, CPU
seconds) with ``psutil``, the library that instrumentation reads them with.
"""

from __future__ import annotations

import os
from typing import Any

from ._config import ConfigError

PROCESS_METRICS: dict[str, list[str] | None] = {
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.cpu.time": ["user", "system"],
    "process.thread.count": None,
}
"""The instrumentation's configuration: process metrics only."""

_INSTALL = "pip install 'otel-agentmetrics[process]' (opentelemetry-instrumentation-system-metrics)"


def check_installed() -> None:
    """Raise at start-up, before anything is patched, when the instrumentation is missing."""
    try:
        import opentelemetry.instrumentation.system_metrics  # noqa: F401
    except ImportError:
        raise ConfigError(f"process_metrics needs the system-metrics instrumentation: {_INSTALL}") from None


def start(meter_provider: Any) -> Any:
    """Register the process metrics on ``meter_provider``; returns the instrumentor (``uninstrument()`` stops it)."""
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

    instrumentor = SystemMetricsInstrumentor(config=dict(PROCESS_METRICS))
    instrumentor.instrument(meter_provider=meter_provider)
    return instrumentor


class Sampler:
    """Resident memory (bytes) and CPU seconds (user + system) of this process, for the store's heartbeat."""

    def __init__(self) -> None:
        self._pid = -1
        self._process: Any = None

    def sample(self) -> tuple[int | None, float | None]:
        try:
            if self._pid != os.getpid():  # a forked worker is another process
                import psutil

                self._process, self._pid = psutil.Process(), os.getpid()
            with self._process.oneshot():
                memory = self._process.memory_info().rss
                cpu = self._process.cpu_times()
            return int(memory), float(cpu.user + cpu.system)
        except Exception:  # psutil missing or the process table unreadable: the heartbeat goes on without
            return None, None
