"""The telemetry that tools, agent runs and operations report to.

``instrument()`` sets it; before that (or under ``opentelemetry-instrument``) a default one reports to the global
tracer and meter providers, so a decorated function works whether or not, and before or after, setup ran.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from . import _fork

if TYPE_CHECKING:
    from ._telemetry import Telemetry

_current: Telemetry | None = None
_default: Telemetry | None = None
_lock = threading.Lock()


@_fork.on_fork_in_child
def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


def use(telemetry: Telemetry | None) -> None:
    """Make ``telemetry`` the one decorators and scopes report to (``None``: back to the global providers)."""
    global _current
    _current = telemetry


def telemetry() -> Telemetry:
    current = _current
    if current is not None:
        return current
    return _fallback()


def _fallback() -> Telemetry:
    global _default
    with _lock:
        if _default is None:
            from ._config import ConfigError, Settings, resolve
            from ._guard import logger
            from ._telemetry import Telemetry

            try:
                settings = resolve()  # the environment's settings, as opentelemetry-instrument sees them
            except ConfigError as error:
                logger.warning("otel-agentmetrics: %s; tools and agent runs use the defaults", error)
                settings = Settings()
            _default = Telemetry(capture_content=settings.capture, raw_errors=settings.raw_errors)
            _default.labels.configure(settings.metric_attributes, settings.max_attribute_values)
        return _default
