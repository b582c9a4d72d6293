"""Our instrumentors, found through the ``opentelemetry_instrumentor`` entry points (never imported directly)."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

_PREFIX = "agentmetrics_"
_MODULE = "otel_agentmetrics.instrumentors."


def available() -> dict[str, EntryPoint]:
    """Short name (``openai``) -> entry point, for every instrumentor this package ships."""
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        if entry_point.value.startswith(_MODULE):
            name = entry_point.name.removeprefix(_PREFIX)
            found[name] = entry_point
    return found
