"""Test kit for retrieval: store instrumentors on the test's in-memory providers, a deterministic embedding
(no model download), and the span/metric readers the retrieval tests share."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from otel_agentmetrics._telemetry import Telemetry

from .scope_kit import scoped_telemetry

DIM = 8


def embed(text: str) -> list[float]:
    """A deterministic unit vector for ``text``: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    values = [b - 127.5 for b in digest[:DIM]]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def axis(i: int, dim: int = DIM) -> list[float]:
    """The unit vector along axis ``i``: queries with exact, known nearest neighbours."""
    return [1.0 if j == i else 0.0 for j in range(dim)]


def near(i: int, dim: int = DIM) -> list[float]:
    """A query vector whose nearest axis is ``i``, then ``i+1``, ``i+2``... (no ties: results in a fixed order)."""
    values = [float(dim - ((j - i) % dim)) for j in range(dim)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


@contextmanager
def instrumented(otel: Any, *instrumentors: Any, capture: str | None = None) -> Iterator[Telemetry]:
    """The given instrumentors on the test's providers; uninstrumented on exit."""
    with scoped_telemetry(otel, capture=capture, openai_client=False) as telemetry:
        for instrumentor in instrumentors:
            instrumentor.instrument(telemetry=telemetry)
        try:
            yield telemetry
        finally:
            for instrumentor in instrumentors:
                instrumentor.uninstrument()


def store_spans(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("db.system.name") is not None]


def retrieval_spans(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "retrieval"]


def duration_points(otel: Any, operation: str = "retrieval") -> list[Any]:
    return [
        p
        for p in otel.metric_points("db.client.operation.duration")
        if p.attributes.get("gen_ai.operation.name") == operation
    ]


def row_points(otel: Any) -> list[Any]:
    return list(otel.metric_points("db.client.response.returned_rows"))
