"""Milvus through the real ``pymilvus`` client and Milvus Lite (the engine in-process, a ``.db`` file in a temp
dir), sync and async, explicit vectors: one ``retrieval`` span per search with store, collection and rows, one
duration point, writes as their own operation, results identical with and without instrumentation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.milvus import MilvusInstrumentor

from .retrieval_kit import DIM, axis, duration_points, instrumented, near, retrieval_spans, row_points, store_spans

pymilvus = pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def lite(tmp_path_factory: Any) -> str:
    """One Milvus Lite database for the module (starting the engine takes seconds); each test its collections."""
    return str(tmp_path_factory.mktemp("milvus") / "lite.db")


def _rows() -> list[dict[str, Any]]:
    return [{"id": i, "vector": axis(i), "text": f"document {i}"} for i in range(DIM)]


def _client(uri: str, name: str) -> Any:
    client = pymilvus.MilvusClient(uri)
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=DIM, metric_type="IP")
    return client


def test_search_is_one_retrieval_span_and_results_are_unchanged(otel: Any, lite: str) -> None:
    client = _client(lite, "plain")
    client.insert("plain", _rows())
    expected = client.search("plain", [near(2)], limit=3)

    client = _client(lite, "docs")
    with instrumented(otel, MilvusInstrumentor()):
        written = client.insert("docs", _rows())
        result = client.search("docs", [near(2)], limit=3)
    assert written["insert_count"] == DIM
    assert [[dict(h) for h in hits] for hits in result] == [[dict(h) for h in hits] for hits in expected]
    assert [h["id"] for h in result[0]] == [2, 3, 4]

    (span,) = retrieval_spans(otel)
    assert span.name == "retrieval docs"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "milvus",
        "db.collection.name": "docs",
        "db.operation.name": "search",
        "gen_ai.request.top_k": 3,
        "db.response.returned_rows": 3,
    }  # Milvus Lite is embedded: no server.address
    (write,) = [s for s in store_spans(otel) if s is not span]
    assert (write.name, write.attributes["db.operation.name"]) == ("add_documents docs", "insert")
    assert write.attributes["db.response.returned_rows"] == DIM

    (point,) = duration_points(otel)
    assert point.count == 1
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "milvus",
        "db.collection.name": "docs",
        "db.operation.name": "search",
    }
    (rows,) = [p for p in row_points(otel) if p.attributes["gen_ai.operation.name"] == "retrieval"]
    assert (rows.count, rows.sum) == (1, 3)


def test_several_vectors_query_get_delete_and_capture(otel: Any, lite: str) -> None:
    client = _client(lite, "multi")
    client.insert("multi", _rows())
    with instrumented(otel, MilvusInstrumentor(), capture="span_only"):
        hits = client.search("multi", [near(0), near(5)], limit=2)
        queried = client.query("multi", filter="id >= 5", limit=10)
        got = client.get("multi", ids=[1, 2])
        deleted = client.delete("multi", ids=[7])
    assert [[h["id"] for h in group] for group in hits] == [[0, 1], [5, 6]]
    assert sorted(r["id"] for r in queried) == [5, 6, 7]
    assert sorted(r["id"] for r in got) == [1, 2]
    deleted_count = len(deleted) if isinstance(deleted, list) else deleted["delete_count"]  # Lite: the keys
    assert deleted_count == 1

    spans = {s.attributes["db.operation.name"]: s for s in store_spans(otel)}
    assert set(spans) == {"search", "query", "get", "delete"}  # get's inner query folded into get's span
    assert spans["search"].attributes["db.response.returned_rows"] == 4
    documents = json.loads(spans["search"].attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == [0, 1, 5, 6]
    assert documents[0]["score"] == pytest.approx(near(0)[0], rel=1e-5)
    assert spans["query"].attributes["db.response.returned_rows"] == 3
    assert spans["query"].attributes["gen_ai.request.top_k"] == 10
    assert spans["get"].attributes["db.response.returned_rows"] == 2
    assert spans["delete"].attributes["gen_ai.operation.name"] == "delete_documents"
    assert spans["delete"].attributes["db.response.returned_rows"] == 1


def test_capture_off_records_no_ids_or_scores(otel: Any, lite: str) -> None:
    client = _client(lite, "private")
    client.insert("private", _rows())
    with instrumented(otel, MilvusInstrumentor()):
        client.search("private", [near(1)], limit=2)
    (span,) = retrieval_spans(otel)
    assert "gen_ai.retrieval.documents" not in span.attributes


def test_missing_collection_keeps_the_users_exception(otel: Any, lite: str) -> None:
    client = pymilvus.MilvusClient(lite)
    with pytest.raises(Exception) as plain:
        client.search("nowhere", [near(0)], limit=1)
    with instrumented(otel, MilvusInstrumentor()), pytest.raises(Exception) as caught:
        client.search("nowhere", [near(0)], limit=1)
    assert type(caught.value) is type(plain.value)
    assert str(caught.value) == str(plain.value)
    (span,) = retrieval_spans(otel)
    assert span.attributes["error.type"] == type(plain.value).__qualname__
    assert span.attributes["db.collection.name"] == "nowhere"
    assert "db.response.returned_rows" not in span.attributes
    (point,) = duration_points(otel)
    assert point.attributes["error.type"] == type(plain.value).__qualname__


async def test_async_client_search(otel: Any, lite: str) -> None:
    _client(lite, "asyncdocs").insert("asyncdocs", _rows())
    client = pymilvus.AsyncMilvusClient(lite)
    with instrumented(otel, MilvusInstrumentor()):
        result = await client.search("asyncdocs", [near(6)], limit=2)
    await client.close()
    assert [h["id"] for h in result[0]] == [6, 7]
    (span,) = retrieval_spans(otel)
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "milvus",
        "db.collection.name": "asyncdocs",
        "db.operation.name": "search",
        "gen_ai.request.top_k": 2,
        "db.response.returned_rows": 2,
    }
    (point,) = duration_points(otel)
    assert point.count == 1
