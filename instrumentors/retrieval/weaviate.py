"""Weaviate (``weaviate-client`` v4): every collection query is a retrieval; gRPC batch writes and deletes are writes.

The v4 client sends every query (``near_vector``, ``near_text``, ``near_object``, ``bm25``, ``hybrid``,
``fetch_objects``, and their ``generate`` forms) through one call, its connection's ``grpc_search``: that call
is wrapped (``ConnectionSync`` and ``ConnectionAsync``), so each query is one span whatever its kind.

``db.collection.name`` is the request's collection, ``gen_ai.request.top_k`` its ``limit``,
``db.response.returned_rows`` the objects returned (for a grouped query, the objects of all groups),
``db.operation.name`` is ``search``; with capture on, the objects' ids and their distance (or score, when the
query reports no distance). ``server.address``/``server.port``: the gRPC host and port the query went to.
``grpc_batch_objects`` (``data.insert_many``, batches) is ``add_documents`` with the rows sent;
``grpc_batch_delete`` (``data.delete_many``) ``delete_documents`` with the rows deleted. Single-object REST
writes (``data.insert``) are not traced.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord


def _record(connection: Any, operation: str, db_operation: str, request: Any) -> RetrievalRecord:
    collection = getattr(request, "collection", None)
    record = RetrievalRecord(operation, sc.DB_WEAVIATE, collection or None, db_operation)
    grpc = getattr(getattr(connection, "_connection_params", None), "grpc", None)
    host, port = getattr(grpc, "host", None), getattr(grpc, "port", None)
    if isinstance(host, str) and host:
        record.server_address = host
        record.server_port = port if isinstance(port, int) else None
    return record


def _request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("request", args[0] if args else None)


def _search(connection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    request = _request(args, kwargs)
    record = _record(connection, sc.OP_RETRIEVAL, "search", request)
    limit = getattr(request, "limit", 0)
    record.top_k = limit if isinstance(limit, int) and limit > 0 else None
    return record


def _results(record: RetrievalRecord, reply: Any, capture: bool) -> None:
    results = list(getattr(reply, "results", ()))
    for group in getattr(reply, "group_by_results", ()):
        results.extend(getattr(group, "objects", ()))
    record.returned_rows = len(results)
    if capture:
        documents: list[dict[str, Any]] = []
        for result in results:
            metadata = result.metadata
            raw = getattr(metadata, "id_as_bytes", b"")  # newer servers send the id as 16 bytes only
            entry: dict[str, Any] = {"id": metadata.id or (str(uuid.UUID(bytes=raw)) if len(raw) == 16 else None)}
            if metadata.distance_present:
                entry["score"] = metadata.distance
            elif metadata.score_present:
                entry["score"] = metadata.score
            documents.append(entry)
        record.documents = documents


def _batch(connection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord | None:
    request = _request(args, kwargs)
    objects = list(getattr(request, "objects", ()))
    names = {getattr(o, "collection", None) for o in objects}
    record = RetrievalRecord(sc.OP_ADD_DOCUMENTS, sc.DB_WEAVIATE, names.pop() if len(names) == 1 else None,
                             "batch_objects", returned_rows=len(objects))  # fmt: skip
    sent = _record(connection, sc.OP_ADD_DOCUMENTS, "batch_objects", None)
    record.server_address, record.server_port = sent.server_address, sent.server_port
    return record


def _delete(connection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    return _record(connection, sc.OP_DELETE_DOCUMENTS, "batch_delete", _request(args, kwargs))


def _deleted(record: RetrievalRecord, reply: Any, capture: bool) -> None:
    successful = getattr(reply, "successful", None)
    if isinstance(successful, int):
        record.returned_rows = successful


class WeaviateInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``weaviate-client`` v4 queries and gRPC batch writes (sync and async clients)."""

    dependencies: Collection[str] = ("weaviate-client >= 4.4",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for cls, wrap in (("ConnectionSync", sync_wrapper), ("ConnectionAsync", async_wrapper)):
            yield "weaviate.connect.v4", f"{cls}.grpc_search", wrap(telemetry, _search, _results)
            yield "weaviate.connect.v4", f"{cls}.grpc_batch_objects", wrap(telemetry, _batch)
            yield "weaviate.connect.v4", f"{cls}.grpc_batch_delete", wrap(telemetry, _delete, _deleted)
