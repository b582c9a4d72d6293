"""LlamaIndex retrievers: ``BaseRetriever.retrieve``/``aretrieve`` are retrievals, whatever the retriever's class.

A query engine's retrieval step (``RetrieverQueryEngine.query`` -> ``retrieve`` -> its retriever's ``retrieve``)
is therefore one ``retrieval`` span, a child of whatever span the query runs in; a retriever wrapping other
retrievers (a router, a fusion or recursive retriever) is one span too, its inner retrievals folded into it, and
so is a store client we instrument below it (the span then carries that store's ``db.system.name``, collection
and operation: the innermost layer's details win, see :mod:`otel_agentmetrics.retrieval`).

Over a vector index (``VectorIndexRetriever``) ``db.system.name`` is the vector store's class name in lower case
without ``VectorStore`` (``SimpleVectorStore`` -> ``simple``), ``db.collection.name`` the store's
``collection_name``/``table_name``/``index_name`` when it has one, ``gen_ai.request.top_k`` the retriever's
``similarity_top_k``; ``db.operation.name`` is ``retrieve``. ``db.response.returned_rows`` counts the nodes
returned; with capture on, the query string and the nodes' ids and scores.
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


def _store_name(store: Any) -> str:
    name = type(store).__name__.lower()
    return name.removesuffix("vectorstore") or name


def _describe(retriever: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    record = RetrievalRecord(sc.OP_RETRIEVAL, db_operation="retrieve")
    store = getattr(retriever, "_vector_store", None)
    if store is not None:
        record.db_system = _store_name(store)
        for attribute in ("collection_name", "table_name", "index_name"):
            name = getattr(store, attribute, None)
            if isinstance(name, str) and name:
                record.collection = name
                break
    top_k = getattr(retriever, "_similarity_top_k", None)
    record.top_k = top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else None
    query = kwargs.get("str_or_query_bundle", args[0] if args else None)
    text = query if isinstance(query, str) else getattr(query, "query_str", None)
    record.query_text = text if isinstance(text, str) else None
    return record


def _nodes(record: RetrievalRecord, result: Any, capture: bool) -> None:
    if not isinstance(result, list):
        return
    record.returned_rows = len(result)
    if capture:
        record.documents = [{"id": getattr(item, "node_id", None), "score": getattr(item, "score", None)}
                            for item in result]  # fmt: skip


class LlamaIndexRetrievalInstrumentor(AgentMetricsInstrumentor):
    """Instruments LlamaIndex retrievers (any ``BaseRetriever``), and so query engines' retrieval step."""

    dependencies: Collection[str] = ("llama-index-core >= 0.10",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        module = "llama_index.core.base.base_retriever"
        yield module, "BaseRetriever.retrieve", sync_wrapper(telemetry, _describe, _nodes)
        yield module, "BaseRetriever.aretrieve", async_wrapper(telemetry, _describe, _nodes)
