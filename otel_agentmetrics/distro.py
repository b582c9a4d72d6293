"""``opentelemetry-instrument python app.py``: the specification's defaults, beside any other distro.

How ``opentelemetry-instrument`` starts (opentelemetry-instrumentation's ``auto_instrumentation``): it loads ONE
distro (``OTEL_PYTHON_DISTRO``, else the first installed), then ONE configurator (``OTEL_PYTHON_CONFIGURATOR``, else
the first installed; every other one is skipped with a warning), then runs every ``opentelemetry_pre_instrument``
hook, then the instrumentors. So:

- We register no configurator. A second one only adds "Configuration of X not loaded, Y already loaded" and makes
  the result depend on the order the packages were installed in.
- Our distro sets what the environment leaves unset to the specification's defaults (``otlp`` for traces and
  metrics over ``http/protobuf``), plus our local summary store for traces, our documented default. Whichever
  configurator runs next (the SDK's, from opentelemetry-distro) reads the same variables. An explicit value wins.
- Our pre-instrument hook sets up the providers from those variables when no configurator did (only this package
  installed), and wraps the ``AGENTMETRICS_TOOLS`` functions either way.

With opentelemetry-distro installed too, whichever distro comes first applies its defaults; theirs sends OTLP over
gRPC and has no local store. ``OTEL_PYTHON_DISTRO=agentmetrics`` (or ``=distro``) picks one.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

TRACES_DEFAULT = "otlp,agentmetrics"
METRICS_DEFAULT = "otlp"
PROTOCOL_DEFAULT = "http/protobuf"


class AgentMetricsDistro(BaseDistro):
    """The specification's exporter defaults, plus our local store for traces."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_TRACES_EXPORTER", TRACES_DEFAULT)
        os.environ.setdefault("OTEL_METRICS_EXPORTER", METRICS_DEFAULT)
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", PROTOCOL_DEFAULT)


def configure_if_unset() -> None:
    """``opentelemetry_pre_instrument`` hook: runs after the configurator (if any) and before the instrumentors."""
    from opentelemetry import metrics, trace

    from . import _config
    from ._config import ConfigError, resolve
    from ._guard import logger
    from ._setup import _is_configured, configure_providers

    try:
        settings = resolve()
        if not (_is_configured(trace.get_tracer_provider()) and _is_configured(metrics.get_meter_provider())):
            configure_providers(settings)
        from .exporters.delivery import adopt_pipeline

        adopt_pipeline(trace.get_tracer_provider(), metrics.get_meter_provider())  # opentelemetry-distro's too
        if settings.tools:  # AGENTMETRICS_TOOLS: functions traced as tools without editing the program
            from .tools import wrap_tools

            wrap_tools(settings.tools)
    except ConfigError as error:
        # One line naming the fix, not opentelemetry-instrument's traceback (logged again by each instrumentor);
        # as with any failed auto-instrumentation, the program runs, without our telemetry.
        _config.startup_error = error
        logger.error("otel-agentmetrics: %s; no telemetry from otel-agentmetrics in this run", error)
