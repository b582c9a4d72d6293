"""otel-agentmetrics: OpenTelemetry spans, metrics and dollar costs for every LLM and tool call of an agent.

Usage::

    import otel_agentmetrics

    otel_agentmetrics.instrument()   # at start-up, before creating clients

Every option of :func:`instrument` and its environment variable is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import ConfigError
from .record import CallRecord
from .version import __version__

if TYPE_CHECKING:
    from ._runs import carry_context
    from ._telemetry import Telemetry
    from .agents import agent
    from .attribution import attributes
    from .budgets import BudgetExceeded, budget
    from .operations import operation
    from .pricing import cost, estimate
    from .tools import tool


def instrument(**options: Any) -> Telemetry:
    """Instrument every supported library that is installed and set up tracing and metrics.

    Call once at start-up. The SDK is imported here, not at ``import otel_agentmetrics``, and instrumented
    libraries are patched when they are imported. Every option is listed in ``docs/configuration.md``.
    """
    from ._setup import instrument as _instrument

    return _instrument(**options)


_LAZY = {
    "BudgetExceeded": "budgets",
    "agent": "agents",
    "attributes": "attribution",
    "budget": "budgets",
    "carry_context": "_runs",
    "cost": "pricing",
    "estimate": "pricing",
    "operation": "operations",
    "tool": "tools",
}


def __getattr__(name: str) -> Any:
    # Tools, agents, attribution and budgets load on first use, so ``import otel_agentmetrics`` stays light.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_agentmetrics' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def uninstrument() -> None:
    """Restore every patched function."""
    from ._setup import uninstrument as _uninstrument

    _uninstrument()


__all__ = [
    "BudgetExceeded",
    "CallRecord",
    "ConfigError",
    "__version__",
    "agent",
    "attributes",
    "budget",
    "carry_context",
    "cost",
    "estimate",
    "instrument",
    "operation",
    "tool",
    "uninstrument",
]
