"""``opentelemetry-instrument python app.py`` with only this package installed.

Without a distro that command patches libraries but configures no SDK, so nothing is exported. Our configurator
builds the providers from the ``OTEL_*`` variables with our defaults (the local summary store for traces);
the instrumentors themselves are loaded by ``opentelemetry-instrument`` through their entry points.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from ._config import resolve
from ._setup import configure_providers


class AgentMetricsDistro(BaseDistro):
    """Nothing to preset: our defaults live in the settings."""

    def _configure(self, **kwargs: Any) -> None:
        return None


class AgentMetricsConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        settings = resolve()
        configure_providers(settings)
        if settings.tools:  # AGENTMETRICS_TOOLS: functions traced as tools without editing the program
            from .tools import wrap_tools

            wrap_tools(settings.tools)
