"""Pinecone (``pinecone`` SDK): ``Index.query``, ``query_namespaces``, ``search`` and ``fetch`` are retrievals;
``upsert`` and ``delete`` are writes. Sync (``Index``) and async (``AsyncIndex``).

Pinecone is remote: ``server.address``/``server.port`` come from the index's host. ``db.collection.name`` is the
index's name, read from a Pinecone host (``{index}-{project}.svc.{environment}.pinecone.io``); another host (a
proxy, Pinecone Local) gives none. A non-empty namespace is ``db.namespace``. ``db.response.returned_rows`` counts
the matches (``query``, ``query_namespaces``), the hits (``search``) or the vectors fetched; for ``upsert``, the
count Pinecone reports.

The SDK's ``Index`` binds ``query``/``upsert``... to the instance when it is created (its legacy ``async_req``
support): an ``Index`` created before ``instrument()`` is not traced; one created after is, until
``uninstrument()``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import Wrapper, async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_READS = ("query", "query_namespaces", "search", "fetch")
_WRITES = {"upsert": sc.OP_ADD_DOCUMENTS, "delete": sc.OP_DELETE_DOCUMENTS}


def _where(index: Any) -> tuple[str | None, str | None, int | None]:
    """The index name (from a Pinecone host), the server's address and port."""
    host = getattr(index, "_host", None)
    if not isinstance(host, str) or not host:
        return None, None, None
    parts = urlsplit(host if "://" in host else f"https://{host}")
    address = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    name = None
    if address and address.endswith(".pinecone.io") and "-" in address.split(".", 1)[0]:
        name = address.split(".", 1)[0].rsplit("-", 1)[0]
    return name, address, port


def _describe(method: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord]:
    operation = _WRITES.get(method, sc.OP_RETRIEVAL)

    def describe(index: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
        name, address, port = _where(index)
        record = RetrievalRecord(operation, sc.DB_PINECONE, name, method, server_address=address, server_port=port)
        top_k = kwargs.get("top_k")
        if isinstance(top_k, int) and not isinstance(top_k, bool):
            record.top_k = top_k
        namespace = kwargs.get("namespace")
        if isinstance(namespace, str) and namespace:
            record.attributes[sc.DB_NAMESPACE] = namespace
        return record

    return describe


def _matches(record: RetrievalRecord, result: Any, capture: bool) -> None:
    matches = getattr(result, "matches", None)
    if matches is None:  # search: result.result.hits
        matches = getattr(getattr(result, "result", None), "hits", None)
    if not isinstance(matches, list):
        return
    record.returned_rows = len(matches)
    if capture:
        record.documents = [
            {"id": getattr(m, "id", getattr(m, "_id", None)), "score": getattr(m, "score", getattr(m, "_score", None))}
            for m in matches
        ]


def _fetched(record: RetrievalRecord, result: Any, capture: bool) -> None:
    vectors = getattr(result, "vectors", None)
    if isinstance(vectors, dict):
        record.returned_rows = len(vectors)
        if capture:
            record.documents = [{"id": key} for key in vectors]


def _upserted(record: RetrievalRecord, result: Any, capture: bool) -> None:
    count = getattr(result, "upserted_count", None)
    if isinstance(count, int):
        record.returned_rows = count


_READERS: dict[str, Callable[[RetrievalRecord, Any, bool], None] | None] = {
    "query": _matches, "query_namespaces": _matches, "search": _matches, "fetch": _fetched,
    "upsert": _upserted, "delete": None,
}  # fmt: skip


class PineconeInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``pinecone`` SDK's data plane (``Index``, ``AsyncIndex``)."""

    dependencies: Collection[str] = ("pinecone >= 7",)

    def _while_on(self, wrapper: Wrapper) -> Wrapper:
        """An instance keeps the method it bound when created: after uninstrument() the call passes untouched."""

        def live(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not self._is_instrumented_by_opentelemetry:
                return wrapped(*args, **kwargs)
            return wrapper(wrapped, instance, args, kwargs)

        return live

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for module, wrap in (("pinecone.index", sync_wrapper), ("pinecone.async_client.async_index", async_wrapper)):
            cls = "Index" if wrap is sync_wrapper else "AsyncIndex"
            for method in (*_READS, *_WRITES):
                yield module, f"{cls}.{method}", self._while_on(wrap(telemetry, _describe(method), _READERS[method]))
