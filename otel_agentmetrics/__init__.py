"""otel-agentmetrics: OpenTelemetry spans, metrics and dollar costs for every LLM and tool call of an agent.

Usage::

    import otel_agentmetrics

    otel_agentmetrics.instrument()   # at start-up, before creating clients

Every option of :func:`instrument` and its environment variable is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from ._config import ConfigError
from ._setup import instrument, uninstrument
from .record import CallRecord
from .version import __version__

__all__ = ["CallRecord", "ConfigError", "__version__", "instrument", "uninstrument"]
