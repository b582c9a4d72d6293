"""Fail open: a bug in our code is logged once and never reaches the user's call."""

from __future__ import annotations

import logging

logger = logging.getLogger("otel_agentmetrics")

_seen: set[str] = set()


def _raise_internal_errors() -> bool:
    # Tests set this so that our own bugs fail them instead of hiding behind the fail-open guard. A bad value
    # stops instrument() at start-up (resolve()); here, inside a user's call, it only means "no".
    from ._config import ConfigError, env_bool

    try:
        return env_bool("AGENTMETRICS_RAISE_INTERNAL_ERRORS", False)
    except ConfigError:
        return False


def internal_error(where: str) -> None:
    """Report the exception being handled, once per place; call from inside an ``except`` block."""
    if _raise_internal_errors():
        raise
    if where in _seen:
        logger.debug("otel-agentmetrics internal error in %s", where, exc_info=True)
        return
    _seen.add(where)
    logger.warning(
        "otel-agentmetrics: internal error in %s; the call goes on without full telemetry "
        "(further errors here are logged at debug level)",
        where,
        exc_info=True,
    )


def rejected_value(where: str) -> None:
    """Say once per place that a reported value was dropped as unbelievable. Not our bug, so no traceback and
    never re-raised: the value came from a server or a client library."""
    key = f"rejected {where}"
    if key in _seen:
        return
    _seen.add(key)
    logger.warning(
        "otel-agentmetrics: dropped the %s reported for a call (not a believable value); the rest of the call's "
        "telemetry is kept (counted in agentmetrics.values.rejected; further drops of it are not logged)",
        where,
    )
