"""mem0 (``mem0ai``): ``Memory``/``AsyncMemory`` operations as the GenAI conventions' memory operations.

- ``search`` and ``get_all``: ``search_memory`` (counted as retrievals in an agent run's roll-up), with
  ``gen_ai.request.top_k``, the memories returned as ``db.response.returned_rows`` and, with capture on, the query
  and the memories' ids and scores;
- ``add``: ``create_memory`` with ``infer=False`` (the messages are stored as they are), ``upsert_memory`` otherwise
  (mem0's model decides to add, update or delete memories); ``db.response.returned_rows`` counts the memories it
  reports changed;
- ``update``: ``update_memory``; ``delete`` and ``delete_all``: ``delete_memory``.

``db.system.name`` and ``db.collection.name`` are those of mem0's vector store (its provider and collection); when
that store's client is instrumented too (Qdrant, Chroma, Milvus, pgvector ...), its calls fold into the memory
operation's one span, which then carries the client's own details. The model and embedding calls mem0 makes are
the model clients' spans, children of the memory span.
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

_OPERATIONS = {
    "search": sc.OP_SEARCH_MEMORY,
    "get_all": sc.OP_SEARCH_MEMORY,
    "add": sc.OP_UPSERT_MEMORY,  # create_memory when infer=False
    "update": sc.OP_UPDATE_MEMORY,
    "delete": sc.OP_DELETE_MEMORY,
    "delete_all": sc.OP_DELETE_MEMORY,
}


def _store(memory: Any) -> tuple[str | None, str | None]:
    store = getattr(getattr(memory, "config", None), "vector_store", None)
    provider = getattr(store, "provider", None)
    collection = getattr(getattr(store, "config", None), "collection_name", None)
    return (provider if isinstance(provider, str) else None, collection if isinstance(collection, str) else None)


def _describe(method: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    def describe(memory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        operation = _OPERATIONS[method]
        if method == "add" and kwargs.get("infer", True) is False:
            operation = sc.OP_CREATE_MEMORY
        system, collection = _store(memory)
        record = RetrievalRecord(operation, system, collection, method)
        top_k = kwargs.get("top_k", 20 if method == "search" else None)  # 20: mem0's default
        record.top_k = top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else None
        if method == "search":
            query = kwargs.get("query", args[0] if args else None)
            record.query_text = query if isinstance(query, str) else None
        return record

    return describe


def _results(record: RetrievalRecord, result: Any, capture: bool) -> None:
    results = result.get("results") if isinstance(result, dict) else result
    if not isinstance(results, list):
        return
    record.returned_rows = len(results)
    if capture and record.is_query:
        record.documents = [
            {"id": item.get("id"), "score": item.get("score")} if "score" in item else {"id": item.get("id")}
            for item in results
            if isinstance(item, dict)
        ]


class Mem0Instrumentor(AgentMetricsInstrumentor):
    """Instruments ``mem0``'s ``Memory`` and ``AsyncMemory`` as memory operations."""

    dependencies: Collection[str] = ("mem0ai >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for cls, wrap in (("Memory", sync_wrapper), ("AsyncMemory", async_wrapper)):
            for method in _OPERATIONS:
                read = _results if method in ("search", "get_all", "add") else None
                yield "mem0.memory.main", f"{cls}.{method}", wrap(telemetry, _describe(method), read)
