"""The shared store wrappers: a broken ``describe`` or ``read`` costs the telemetry, never the user's call; folding
keeps the innermost store's details and the outermost layer's rows; uninstrument restores everything."""

from __future__ import annotations

from typing import Any

import pytest
import wrapt

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics.retrieval import RetrievalRecord

from .retrieval_kit import duration_points, retrieval_spans
from .scope_kit import scoped_telemetry


class Store:
    """A tiny in-process store: what the wrappers see of a real client (a method, its arguments, its result)."""

    name = "docs"

    def search(self, query: str, k: int = 2) -> list[str]:
        return [f"{query}-{i}" for i in range(k)]

    async def asearch(self, query: str, k: int = 2) -> list[str]:
        return self.search(query, k)


def _describe(store: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
    return RetrievalRecord(sc.OP_RETRIEVAL, "tiny", store.name, "search", top_k=kwargs.get("k", 2))


def _rows(record: RetrievalRecord, result: Any, capture: bool) -> None:
    record.returned_rows = len(result)


def _broken(*args: Any) -> Any:
    raise KeyError("a shape this reader did not expect")


def test_a_broken_reader_or_describer_costs_the_telemetry_only(otel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMETRICS_RAISE_INTERNAL_ERRORS", "0")  # the guard as users have it
    store = Store()
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        broken_read = wrapt.FunctionWrapper(store.search, sync_wrapper(telemetry, _describe, _broken))
        broken_describe = wrapt.FunctionWrapper(store.search, sync_wrapper(telemetry, _broken, _rows))
        assert broken_read("q", k=3) == ["q-0", "q-1", "q-2"]
        assert broken_describe("q") == ["q-0", "q-1"]
    (span,) = retrieval_spans(otel)  # the broken reader's call still has its span, without rows
    assert "db.response.returned_rows" not in span.attributes
    assert span.attributes["gen_ai.request.top_k"] == 3


async def test_async_and_folding_keep_one_span(otel: Any) -> None:
    store = Store()
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        inner = wrapt.FunctionWrapper(store.asearch, async_wrapper(telemetry, _describe, _rows))

        def _framework(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord:
            return RetrievalRecord(sc.OP_RETRIEVAL, "framework-fallback", db_operation="retrieve")

        async def retrieve(query: str) -> list[str]:
            found = await inner(query, k=5)
            return found[:2]  # the framework keeps the best two

        outer = wrapt.FunctionWrapper(retrieve, async_wrapper(telemetry, _framework, _rows))
        assert await outer("q") == ["q-0", "q-1"]
    (span,) = retrieval_spans(otel)
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "tiny",  # the store's, not the framework's fallback
        "db.collection.name": "docs",
        "db.operation.name": "search",
        "gen_ai.request.top_k": 5,  # the framework asked for none itself
        "db.response.returned_rows": 2,  # what the caller got
    }
    (point,) = duration_points(otel)
    assert point.count == 1


def test_an_error_inside_keeps_the_users_exception(otel: Any) -> None:
    def search(query: str) -> list[str]:
        raise LookupError(f"no collection for {query}")

    with scoped_telemetry(otel, openai_client=False) as telemetry:
        wrapped = wrapt.FunctionWrapper(search, sync_wrapper(telemetry, lambda *a: _describe(Store(), (), {}), _rows))
        with pytest.raises(LookupError, match="no collection for my secret query") as caught:
            wrapped("my secret query")
    assert type(caught.value) is LookupError
    (span,) = retrieval_spans(otel)
    assert span.attributes["error.type"] == "LookupError"
    (event,) = span.events
    message = event.attributes["exception.message"]
    assert "secret" not in message and message.startswith("no collection for ")  # the query masked, capture off
