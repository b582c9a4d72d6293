"""``opentelemetry-instrument python app.py`` with only this package installed.

Without a distro that command patches libraries but configures no SDK, so nothing is exported. Our configurator
builds the providers from the ``OTEL_*`` variables with our defaults (the local summary store for traces);
the instrumentors themselves are loaded by ``opentelemetry-instrument`` through their entry points.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from . import _config
from ._config import ConfigError, resolve
from ._guard import logger
from ._setup import configure_providers


class AgentMetricsDistro(BaseDistro):
    """Nothing to preset: our defaults live in the settings."""

    def _configure(self, **kwargs: Any) -> None:
        return None


class AgentMetricsConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        try:
            settings = resolve()
        except ConfigError as error:
            # One line naming the fix, not opentelemetry-instrument's traceback (logged again by each instrumentor);
            # as with any failed auto-instrumentation, the program runs, without our telemetry.
            _config.startup_error = error
            logger.error("otel-agentmetrics: %s; no telemetry from otel-agentmetrics in this run", error)
            return
        configure_providers(settings)
        if settings.tools:  # AGENTMETRICS_TOOLS: functions traced as tools without editing the program
            from .tools import wrap_tools

            wrap_tools(settings.tools)
