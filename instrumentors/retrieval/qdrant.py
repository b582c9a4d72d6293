"""Qdrant: ``query_points``, ``query_batch_points``, ``query_points_groups``, ``scroll`` and ``retrieve`` are
retrievals; ``upsert``, ``upload_points``, ``update_vectors`` and ``delete`` are writes.

Sync (``QdrantClient``) and async (``AsyncQdrantClient``), local mode (``":memory:"``, a path) and remote. A remote
client's spans carry its host and port (the REST port, or the gRPC port with ``prefer_grpc``); local mode has
none. ``db.response.returned_rows`` counts the points returned: of every request of a batch, of every group.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_QUERIES = ("query_points", "query_batch_points", "query_points_groups", "scroll", "retrieve")
_WRITES = {
    "upsert": sc.OP_ADD_DOCUMENTS,
    "upload_points": sc.OP_ADD_DOCUMENTS,
    "update_vectors": sc.OP_ADD_DOCUMENTS,
    "delete": sc.OP_DELETE_DOCUMENTS,
}


def _server(client: Any) -> tuple[str | None, int | None]:
    inner = getattr(client, "_client", None)
    host = getattr(inner, "_host", None)  # QdrantRemote only; QdrantLocal has none
    if not isinstance(host, str):
        return None, None
    port = getattr(inner, "_grpc_port" if getattr(inner, "_prefer_grpc", False) else "_port", None)
    return host, port if isinstance(port, int) else None


def _describe(operation: str, db_operation: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    def describe(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        name = kwargs.get("collection_name", args[0] if args else None)
        address, port = _server(client)
        record = RetrievalRecord(
            operation,
            sc.DB_QDRANT,
            name if isinstance(name, str) else None,
            db_operation,
            server_address=address,
            server_port=port,
        )
        if operation == sc.OP_RETRIEVAL:
            limit = kwargs.get("limit")
            if isinstance(limit, int):
                record.top_k = limit
            elif db_operation in ("query_points", "query_points_groups"):
                record.top_k = 10  # the client's default
            query: Any = kwargs.get("query")
            text = query if isinstance(query, str) else getattr(query, "text", None)  # a str or models.Document
            if isinstance(text, str):  # a text query, embedded by the client (fastembed / cloud inference)
                record.query_text = text
        else:
            points = kwargs.get("points", args[1] if len(args) > 1 else None)
            if isinstance(points, list):
                record.returned_rows = len(points)
        return record

    return describe


def _points(result: Any) -> list[Any] | None:
    """The points of a result, whatever its shape (QueryResponse, a batch, groups, a scroll page, records)."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list):  # scroll: (points, next)
        return result[0]
    if isinstance(result, list):
        if result and hasattr(result[0], "points"):  # query_batch_points: one QueryResponse per request
            return [p for response in result for p in response.points]
        return result  # retrieve: records
    groups = getattr(result, "groups", None)
    if isinstance(groups, list):
        return [hit for group in groups for hit in group.hits]
    points = getattr(result, "points", None)
    return points if isinstance(points, list) else None


def _read(record: RetrievalRecord, result: Any, capture: bool) -> None:
    points = _points(result)
    if points is None:
        return
    record.returned_rows = len(points)
    if capture:
        documents: list[dict[str, Any]] = []
        for point in points:
            entry: dict[str, Any] = {"id": getattr(point, "id", None)}
            score = getattr(point, "score", None)
            if score is not None:
                entry["score"] = score
            documents.append(entry)
        record.documents = documents


class QdrantInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``qdrant-client`` (``QdrantClient`` and ``AsyncQdrantClient``, local and remote)."""

    dependencies: Collection[str] = ("qdrant-client >= 1.10",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for module, cls, wrap in (
            ("qdrant_client.qdrant_client", "QdrantClient", sync_wrapper),
            ("qdrant_client.async_qdrant_client", "AsyncQdrantClient", async_wrapper),
        ):
            for name in _QUERIES:
                yield module, f"{cls}.{name}", wrap(telemetry, _describe(sc.OP_RETRIEVAL, name), _read)
            for name, operation in _WRITES.items():
                # upload_points is synchronous on the async client too (it returns None)
                writer = sync_wrapper if name == "upload_points" else wrap
                yield module, f"{cls}.{name}", writer(telemetry, _describe(operation, name))
