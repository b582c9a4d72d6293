"""LanceDB: a search is a retrieval when it runs (``to_arrow``, which ``to_list``/``to_pandas`` go through);
``add``, ``update`` and ``delete`` of a table are writes.

Sync (``table.search(...).limit(k).to_list()``: the vector, full-text, plain and hybrid query builders; a hybrid
search runs a vector and a full-text query inside, which fold into its one span) and async
(``await table.query().nearest_to(...).limit(k).to_list()``). ``db.collection.name`` is the table's name and
``db.response.returned_rows`` the rows of the result. A query builder that is only built, never run, records
nothing. ``to_batches`` (a reader the caller drains) is not recorded: its rows are not known when it returns.
The pool a hybrid search runs its two legs in (``lancedb.query.ThreadPoolExecutor``) is given the caller's
context per task, so the legs fold into the hybrid's span.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_SYNC_BUILDERS = (
    "LanceVectorQueryBuilder",
    "LanceFtsQueryBuilder",
    "LanceEmptyQueryBuilder",
    "LanceHybridQueryBuilder",
)
_LOOP_THREAD = "LanceDBBackgroundEventLoop"
"""The thread where LanceDB's sync API runs its async one (``lancedb.background_loop``): another context."""
_WRITES = {"add": sc.OP_ADD_DOCUMENTS, "update": sc.OP_ADD_DOCUMENTS, "delete": sc.OP_DELETE_DOCUMENTS}


def _name(table: Any) -> str | None:
    name = getattr(table, "name", None)
    return name if isinstance(name, str) else None


def _search(builder: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    record = RetrievalRecord(sc.OP_RETRIEVAL, sc.DB_LANCEDB, _name(getattr(builder, "_table", None)), "search")
    limit = getattr(builder, "_limit", None)
    if isinstance(limit, int):
        record.top_k = limit
    attributes: tuple[str, ...] = ("_str_query", "_query_string", "_text")
    if type(builder).__name__ == "LanceFtsQueryBuilder":
        attributes += ("_query",)  # the full-text builder keeps its text there (a vector builder, its vector)
    for attribute in attributes:
        text = getattr(builder, attribute, None)
        if isinstance(text, str) and text:
            record.query_text = text
            break
    return record


def _rows(record: RetrievalRecord, result: Any, capture: bool) -> None:
    rows = getattr(result, "num_rows", None)
    if not isinstance(rows, int):
        return
    record.returned_rows = rows
    if capture:
        names = result.column_names
        ids = result.column("id").to_pylist() if "id" in names else [None] * rows
        scores: list[Any] = [None] * rows
        for column in ("_distance", "_relevance_score", "_score"):
            if column in names:
                scores = result.column(column).to_pylist()
                break
        record.documents = [{"id": i, "score": s} for i, s in zip(ids, scores, strict=False)]


def _write(db_operation: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord | None]:
    def describe(table: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord | None:
        if threading.current_thread().name == _LOOP_THREAD:
            return None  # a sync table's write, run on LanceDB's own loop: the sync call has the span
        record = RetrievalRecord(_WRITES[db_operation], sc.DB_LANCEDB, _name(table), db_operation)
        data = kwargs.get("data", args[0] if args else None)
        if db_operation == "add" and isinstance(data, list):
            record.returned_rows = len(data)
        return record

    return describe


class _ContextPool(ThreadPoolExecutor):
    """The pool a hybrid search runs its vector and full-text legs in, each leg in a copy of the caller's context:
    the legs then fold into the hybrid search's span instead of opening two spans of their own."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def _pool(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _ContextPool(*args, **kwargs)


class LanceDBInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``lancedb`` searches and table writes (sync and async)."""

    dependencies: Collection[str] = ("lancedb >= 0.10",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for builder in _SYNC_BUILDERS:
            yield "lancedb.query", f"{builder}.to_arrow", sync_wrapper(telemetry, _search, _rows)
        yield "lancedb.query", "AsyncQueryBase.to_arrow", async_wrapper(telemetry, _search, _rows)
        yield "lancedb.query", "ThreadPoolExecutor", _pool  # lancedb.query's own name for it: the hybrid's pool
        for name in _WRITES:
            yield "lancedb.table", f"LanceTable.{name}", sync_wrapper(telemetry, _write(name))
            yield "lancedb.table", f"AsyncTable.{name}", async_wrapper(telemetry, _write(name))
