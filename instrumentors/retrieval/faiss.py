"""FAISS: ``index.search`` is a retrieval; ``add``, ``add_with_ids`` and ``remove_ids`` are writes.

FAISS indexes have no name: ``db.collection.name`` is left unset and the index type (``IndexFlatL2``,
``IndexHNSWFlat`` ...) is ``faiss.index.type`` on the span. A search of ``n`` query vectors for ``k`` neighbours
returns an ``n x k`` array padded with ``-1`` where fewer were found: ``db.response.returned_rows`` counts the real
neighbours, and ``gen_ai.request.top_k`` is ``k``. Searches of an index made inside another store's operation
(LangChain's FAISS vector store) fold into that operation's span.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_INDEXES = (
    "Index",
    "IndexFlat",
    "IndexIVF",
    "IndexHNSW",
    "IndexIDMap",
    "IndexPQ",
    "IndexLSH",
    "IndexScalarQuantizer",
    "IndexPreTransform",
    "IndexRefineFlat",
    "IndexShards",
    "IndexReplicas",
    "IndexBinary",
    "IndexBinaryFlat",
)
"""The classes that define their own Python-level ``search`` (FAISS's ``handle_Index`` wrappers); every other
index class inherits one of these (``IndexFlatL2`` -> ``IndexFlat``, ``IndexIVFFlat`` -> ``IndexIVF``)."""
_WRITES = {"add": sc.OP_ADD_DOCUMENTS, "add_with_ids": sc.OP_ADD_DOCUMENTS, "remove_ids": sc.OP_DELETE_DOCUMENTS}


def _record(index: Any, operation: str, db_operation: str) -> RetrievalRecord:
    return RetrievalRecord(
        operation, sc.DB_FAISS, db_operation=db_operation, attributes={"faiss.index.type": type(index).__name__}
    )


def _search(index: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    record = _record(index, sc.OP_RETRIEVAL, "search")
    k = kwargs.get("k", args[1] if len(args) > 1 else None)
    record.top_k = int(k) if k is not None else None
    return record


def _neighbours(record: RetrievalRecord, result: Any, capture: bool) -> None:
    distances, labels = result
    record.returned_rows = int((labels != -1).sum())
    if capture:
        record.documents = [
            {"id": int(label), "score": float(distance)}
            for row_labels, row_distances in zip(labels.tolist(), distances.tolist(), strict=False)
            for label, distance in zip(row_labels, row_distances, strict=False)
            if label != -1
        ]


def _write(db_operation: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    def describe(index: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        record = _record(index, _WRITES[db_operation], db_operation)
        vectors = args[0] if args else kwargs.get("x")
        shape = getattr(vectors, "shape", None)
        if db_operation != "remove_ids" and shape:
            record.returned_rows = int(shape[0])
        return record

    return describe


class FaissInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``faiss`` (faiss-cpu / faiss-gpu) index searches and writes."""

    dependencies: Collection[str] = ("faiss-cpu >= 1.7",)

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()  # faiss-cpu or faiss-gpu: either distribution provides the module

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for cls in _INDEXES:
            yield "faiss", f"{cls}.search", sync_wrapper(telemetry, _search, _neighbours)
            for name in _WRITES:
                yield "faiss", f"{cls}.{name}", sync_wrapper(telemetry, _write(name))
