"""Chroma: ``Collection.query``/``get`` are retrievals; ``add``/``upsert``/``update`` and ``delete`` are writes.

Sync (``Collection``) and async (``AsyncCollection``). ``db.collection.name`` is the collection's name; a query
with several query vectors or texts returns a list per query, and ``db.response.returned_rows`` counts the rows
of all of them. An ``HttpClient``'s collection carries the server's address and port; an in-process client
(``EphemeralClient``, ``PersistentClient``) has none.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_WRITES = {"add": sc.OP_ADD_DOCUMENTS, "upsert": sc.OP_ADD_DOCUMENTS, "update": sc.OP_ADD_DOCUMENTS,
           "delete": sc.OP_DELETE_DOCUMENTS}  # fmt: skip


def _server(collection: Any) -> tuple[str | None, int | None]:
    client = getattr(collection, "_client", None)
    if client is None or "FastAPI" not in type(client).__name__:
        return None, None
    settings = client.get_settings()
    port = getattr(settings, "chroma_server_http_port", None)
    return getattr(settings, "chroma_server_host", None), int(port) if port is not None else None


def _record(collection: Any, operation: str, db_operation: str) -> RetrievalRecord:
    address, port = _server(collection)
    name = getattr(collection, "name", None)
    return RetrievalRecord(
        operation,
        sc.DB_CHROMA,
        name if isinstance(name, str) else None,
        db_operation,
        server_address=address,
        server_port=port,
    )


def _query(collection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    record = _record(collection, sc.OP_RETRIEVAL, "query")
    n_results = kwargs.get("n_results", 10)
    record.top_k = n_results if isinstance(n_results, int) else None
    texts = kwargs.get("query_texts") if "query_texts" in kwargs else (args[1] if len(args) > 1 else None)
    if isinstance(texts, str):
        record.query_text = texts
    elif isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts):
        record.query_text = texts[0] if len(texts) == 1 else "\n".join(texts)
    return record


def _get(collection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    record = _record(collection, sc.OP_RETRIEVAL, "get")
    limit = kwargs.get("limit")
    record.top_k = limit if isinstance(limit, int) else None
    return record


def _write(db_operation: str) -> Any:
    def describe(collection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        record = _record(collection, _WRITES[db_operation], db_operation)
        ids = kwargs.get("ids", args[0] if args else None)
        if isinstance(ids, list):
            record.returned_rows = len(ids)
        elif isinstance(ids, str):
            record.returned_rows = 1
        return record

    return describe


def _query_rows(record: RetrievalRecord, result: Any, capture: bool) -> None:
    ids = result.get("ids")
    if not isinstance(ids, list):
        return
    record.returned_rows = sum(len(row) for row in ids)
    if capture:
        distances = result.get("distances") or [None] * len(ids)
        documents: list[dict[str, Any]] = []
        for row_ids, row_distances in zip(ids, distances, strict=False):
            for i, doc_id in enumerate(row_ids):
                entry: dict[str, Any] = {"id": doc_id}
                if row_distances is not None and i < len(row_distances):
                    entry["score"] = row_distances[i]
                documents.append(entry)
        record.documents = documents


def _get_rows(record: RetrievalRecord, result: Any, capture: bool) -> None:
    ids = result.get("ids")
    if isinstance(ids, list):
        record.returned_rows = len(ids)
        if capture:
            record.documents = [{"id": doc_id} for doc_id in ids]


class ChromaInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``chromadb`` collections (sync and async)."""

    dependencies: Collection[str] = ("chromadb >= 0.5",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for module, cls, wrap in (
            ("chromadb.api.models.Collection", "Collection", sync_wrapper),
            ("chromadb.api.models.AsyncCollection", "AsyncCollection", async_wrapper),
        ):
            yield module, f"{cls}.query", wrap(telemetry, _query, _query_rows)
            yield module, f"{cls}.get", wrap(telemetry, _get, _get_rows)
            for name in _WRITES:
                yield module, f"{cls}.{name}", wrap(telemetry, _write(name))
