"""LangChain retrievers and vector stores: ``BaseRetriever.invoke``/``ainvoke`` and the vector stores'
``similarity_search*``/``max_marginal_relevance_search*`` are retrievals; ``add_documents``/``add_texts`` and
``delete`` are writes.

One span per retrieval: a retriever's ``invoke`` opens it, and the vector-store search it runs, and the store
client's query below that (Chroma, Qdrant, LanceDB ... when their instrumentors are on), fold into it, so the span
carries the store's own ``db.system.name``, collection and operation. Over a store we do not instrument,
``db.system.name`` is the vector store's class name in lower case without ``VectorStore`` (``InMemoryVectorStore``
-> ``inmemory``, ``Chroma`` -> ``chroma``) and ``db.operation.name`` the LangChain method.

Retrievers are covered whatever their class (the method is ``BaseRetriever``'s); vector-store searches are the
base class's methods plus those overridden by the stores listed in ``_STORES``.
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

_SEARCHES = (
    "similarity_search",
    "similarity_search_with_score",
    "similarity_search_by_vector",
    "similarity_search_with_relevance_scores",
    "max_marginal_relevance_search",
    "max_marginal_relevance_search_by_vector",
)
_WRITES = {"add_documents": sc.OP_ADD_DOCUMENTS, "add_texts": sc.OP_ADD_DOCUMENTS, "delete": sc.OP_DELETE_DOCUMENTS}
_STORES = (
    ("langchain_core.vectorstores.base", "VectorStore"),
    ("langchain_core.vectorstores.in_memory", "InMemoryVectorStore"),
    ("langchain_chroma.vectorstores", "Chroma"),
)
"""Vector-store classes whose own search and write methods are patched (a method a class does not define
itself is skipped: the class it inherits it from is listed, or it runs through one that is)."""


def store_name(store: Any) -> str:
    """``db.system.name`` for a LangChain vector store we only know by its class: ``InMemoryVectorStore`` ->
    ``inmemory``, ``QdrantVectorStore`` -> ``qdrant``, ``Chroma`` -> ``chroma``."""
    name = type(store).__name__.lower()
    return name.removesuffix("vectorstore") or name


def _search(method: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    def describe(store: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        record = RetrievalRecord(sc.OP_RETRIEVAL, store_name(store), db_operation=method)
        query = kwargs.get("query", args[0] if args else None)
        if isinstance(query, str):
            record.query_text = query
        k = kwargs.get("k", args[1] if len(args) > 1 else 4)  # 4: LangChain's default everywhere
        record.top_k = k if isinstance(k, int) else None
        return record

    return describe


def _documents(record: RetrievalRecord, result: Any, capture: bool) -> None:
    if not isinstance(result, list):
        return
    record.returned_rows = len(result)
    if capture:
        documents: list[dict[str, Any]] = []
        for item in result:
            if isinstance(item, tuple) and len(item) == 2:  # (Document, score)
                documents.append({"id": getattr(item[0], "id", None), "score": item[1]})
            else:
                documents.append({"id": getattr(item, "id", None)})
        record.documents = documents


def _retriever(retriever: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    store = getattr(retriever, "vectorstore", None)
    record = RetrievalRecord(sc.OP_RETRIEVAL, store_name(store) if store is not None else None)
    query = kwargs.get("input", args[0] if args else None)
    if isinstance(query, str):
        record.query_text = query
    search_kwargs = getattr(retriever, "search_kwargs", None)
    if isinstance(search_kwargs, dict):
        k = search_kwargs.get("k", 4 if store is not None else None)
        record.top_k = k if isinstance(k, int) else None
    return record


def _write(method: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    def describe(store: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        record = RetrievalRecord(_WRITES[method], store_name(store), db_operation=method)
        items = args[0] if args else kwargs.get("documents", kwargs.get("texts", kwargs.get("ids")))
        if isinstance(items, list):
            record.returned_rows = len(items)
        return record

    return describe


class LangChainRetrievalInstrumentor(AgentMetricsInstrumentor):
    """Instruments LangChain retrievers (any ``BaseRetriever``) and vector stores as retrievals and writes."""

    dependencies: Collection[str] = ("langchain-core >= 0.3",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "langchain_core.retrievers", "BaseRetriever.invoke", sync_wrapper(telemetry, _retriever, _documents)
        yield "langchain_core.retrievers", "BaseRetriever.ainvoke", async_wrapper(telemetry, _retriever, _documents)
        for module, cls in _STORES:
            for method in _SEARCHES:
                yield module, f"{cls}.{method}", sync_wrapper(telemetry, _search(method), _documents)
                yield module, f"{cls}.a{method}", async_wrapper(telemetry, _search(method), _documents)
            for method in _WRITES:
                yield module, f"{cls}.{method}", sync_wrapper(telemetry, _write(method))
                yield module, f"{cls}.a{method}", async_wrapper(telemetry, _write(method))
