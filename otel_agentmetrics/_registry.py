"""Our instrumentors, found through the ``opentelemetry_instrumentor`` entry points (never imported directly)."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from ._installed import distribution

_PREFIX = "agentmetrics_"
_MODULE = "otel_agentmetrics.instrumentors."
_GROUP = "opentelemetry_instrumentor"


def available(packages: dict[str, tuple[str, Path]]) -> dict[str, EntryPoint]:
    """Short name (``openai``) -> entry point, for every instrumentor this package ships."""
    # Our own distribution's entry points: one file read instead of parsing every installed package's.
    own = distribution("otel-agentmetrics", packages)
    ours = [ep for ep in own.entry_points if ep.group == _GROUP] if own else list(entry_points(group=_GROUP))
    found: dict[str, EntryPoint] = {}
    for entry_point in ours:
        if entry_point.value.startswith(_MODULE):
            found[entry_point.name.removeprefix(_PREFIX)] = entry_point
    return found
