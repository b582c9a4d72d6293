"""Milvus (``pymilvus``): ``MilvusClient.search``/``hybrid_search``/``query``/``get`` are retrievals;
``insert``/``upsert`` and ``delete`` are writes. Sync (``MilvusClient``) and async (``AsyncMilvusClient``).

``db.collection.name`` is the ``collection_name`` argument; a search with several query vectors returns one list
of hits per vector, and ``db.response.returned_rows`` counts the hits of all of them. A remote Milvus gives
``server.address``/``server.port``; Milvus Lite (a ``.db`` file, served in-process by ``milvus-lite`` on a
loopback port of its own) is an embedded engine and has none.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_SEARCHES = ("search", "hybrid_search", "query", "get")
_WRITES = {"insert": sc.OP_ADD_DOCUMENTS, "upsert": sc.OP_ADD_DOCUMENTS, "delete": sc.OP_DELETE_DOCUMENTS}
_COUNTS = {"insert": "insert_count", "upsert": "upsert_count", "delete": "delete_count"}


def _lite_ports() -> set[int]:
    manager = sys.modules.get("milvus_lite.server_manager")
    servers = getattr(getattr(manager, "server_manager_instance", None), "_servers", None)
    if not isinstance(servers, dict):
        return set()
    return {entry[2] for entry in list(servers.values()) if isinstance(entry, tuple) and len(entry) == 3}


def _server(client: Any) -> tuple[str | None, int | None]:
    address = getattr(getattr(client, "_config", None), "address", None)
    if not isinstance(address, str) or ":" not in address:
        return None, None
    host, _, port_text = address.rpartition(":")
    port = int(port_text) if port_text.isdigit() else None
    if host == "127.0.0.1" and port in _lite_ports():
        return None, None  # Milvus Lite: the embedded engine's own loopback server
    return host, port


def _collection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    name = kwargs.get("collection_name", args[0] if args else None)
    return name if isinstance(name, str) else None


def _describe(method: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    operation = _WRITES.get(method, sc.OP_RETRIEVAL)

    def describe(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        address, port = _server(client)
        record = RetrievalRecord(operation, sc.DB_MILVUS, _collection(args, kwargs), method,
                                 server_address=address, server_port=port)  # fmt: skip
        if method in ("search", "hybrid_search"):
            limit = kwargs.get("limit", args[3] if method == "search" and len(args) > 3 else 10)
            record.top_k = limit if isinstance(limit, int) else None
        elif method == "query":
            limit = kwargs.get("limit")
            record.top_k = limit if isinstance(limit, int) else None
        return record

    return describe


def _hits(record: RetrievalRecord, result: Any, capture: bool) -> None:
    """A search's result: a list (per query vector) of lists of hits (``{"id", "distance", "entity"}``)."""
    groups = list(result)
    record.returned_rows = sum(len(hits) for hits in groups)
    if capture:
        record.documents = [{"id": hit.get("id"), "score": hit.get("distance")} for hits in groups for hit in hits]


def _rows(record: RetrievalRecord, result: Any, capture: bool) -> None:
    """A ``query``/``get`` result: a list of entities."""
    record.returned_rows = len(result)
    if capture:
        record.documents = [{"id": row.get("id")} for row in result if isinstance(row, dict)]


def _written(method: str) -> Callable[[RetrievalRecord, Any, bool], None]:
    def read(record: RetrievalRecord, result: Any, capture: bool) -> None:
        # ``{"insert_count": n}``...; a ``delete`` on a server that reports the deleted keys returns their list
        count = result.get(_COUNTS[method]) if isinstance(result, dict) else None
        if isinstance(result, list):
            count = len(result)
        if isinstance(count, int):
            record.returned_rows = count

    return read


class MilvusInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``pymilvus``'s ``MilvusClient`` and ``AsyncMilvusClient`` (Milvus, Zilliz, Milvus Lite)."""

    dependencies: Collection[str] = ("pymilvus >= 2.4",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for module, cls, wrap in (
            ("pymilvus.milvus_client.milvus_client", "MilvusClient", sync_wrapper),
            ("pymilvus.milvus_client.async_milvus_client", "AsyncMilvusClient", async_wrapper),
        ):
            for method in _SEARCHES:
                read = _hits if method in ("search", "hybrid_search") else _rows
                yield module, f"{cls}.{method}", wrap(telemetry, _describe(method), read)
            for method in _WRITES:
                yield module, f"{cls}.{method}", wrap(telemetry, _describe(method), _written(method))
