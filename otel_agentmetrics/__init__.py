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
    from ._telemetry import Telemetry


def instrument(**options: Any) -> Telemetry:
    """Instrument every supported library that is installed and set up tracing and metrics.

    Call once at start-up. The SDK is imported here, not at ``import otel_agentmetrics``, and instrumented
    libraries are patched when they are imported. Every option is listed in ``docs/configuration.md``.
    """
    from ._setup import instrument as _instrument

    return _instrument(**options)


def uninstrument() -> None:
    """Restore every patched function."""
    from ._setup import uninstrument as _uninstrument

    _uninstrument()


__all__ = ["CallRecord", "ConfigError", "__version__", "instrument", "uninstrument"]
