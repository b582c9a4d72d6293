"""Qdrant (local mode) and LanceDB through their real clients, sync and async, with explicit vectors: one
``retrieval`` span per query with a distinct ``db.system.name``, the collection and the rows returned, one
duration point, writes as their own operation, results unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.faiss import FaissInstrumentor
from otel_agentmetrics.instrumentors.retrieval.lancedb import LanceDBInstrumentor
from otel_agentmetrics.instrumentors.retrieval.qdrant import QdrantInstrumentor

from .retrieval_kit import DIM, axis, duration_points, instrumented, near, retrieval_spans, row_points, store_spans

qdrant_client = pytest.importorskip("qdrant_client")
lancedb = pytest.importorskip("lancedb")
models = qdrant_client.models


def _points() -> list[Any]:
    return [models.PointStruct(id=i, vector=axis(i), payload={"n": i}) for i in range(DIM)]


def _qdrant(client: Any) -> None:
    client.create_collection("docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))


def _expect_one_query(otel: Any, system: str, collection: str, operation: str, rows: int, top_k: int | None) -> Any:
    (span,) = retrieval_spans(otel)
    expected = {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": system,
        "db.collection.name": collection,
        "db.operation.name": operation,
        "db.response.returned_rows": rows,
    }
    if top_k is not None:
        expected["gen_ai.request.top_k"] = top_k
    assert dict(span.attributes) == expected
    assert span.name == f"retrieval {collection}"
    (point,) = duration_points(otel)
    assert point.count == 1
    assert point.attributes["db.system.name"] == system
    assert point.attributes["db.collection.name"] == collection
    (rows_point,) = [p for p in row_points(otel) if p.attributes["gen_ai.operation.name"] == "retrieval"]
    assert (rows_point.count, rows_point.sum) == (1, rows)
    return span


def test_qdrant_local_query_points(otel: Any) -> None:
    plain = qdrant_client.QdrantClient(":memory:")
    _qdrant(plain)
    plain.upsert("docs", points=_points())
    expected = plain.query_points("docs", query=near(3), limit=3)

    client = qdrant_client.QdrantClient(":memory:")
    _qdrant(client)
    with instrumented(otel, QdrantInstrumentor()):
        client.upsert("docs", points=_points())
        result = client.query_points("docs", query=near(3), limit=3)
    assert result == expected
    assert [p.id for p in result.points] == [3, 4, 5]
    _expect_one_query(otel, "qdrant", "docs", "query_points", 3, 3)
    (write,) = [s for s in store_spans(otel) if s.attributes["gen_ai.operation.name"] != "retrieval"]
    assert (write.name, write.attributes["db.operation.name"]) == ("add_documents docs", "upsert")
    assert write.attributes["db.response.returned_rows"] == DIM


def test_qdrant_batches_groups_scroll_and_retrieve_count_their_points(otel: Any) -> None:
    client = qdrant_client.QdrantClient(":memory:")
    _qdrant(client)
    client.upsert("docs", points=_points())
    with instrumented(otel, QdrantInstrumentor(), capture="span_only"):
        batch = client.query_batch_points("docs", requests=[models.QueryRequest(query=near(0), limit=2)] * 3)
        page, _ = client.scroll("docs", limit=5)
        records = client.retrieve("docs", ids=[1, 2])
        client.delete("docs", points_selector=models.PointIdsList(points=[7]))
    assert sum(len(r.points) for r in batch) == 6
    spans = {s.attributes["db.operation.name"]: s for s in store_spans(otel)}
    assert spans["query_batch_points"].attributes["db.response.returned_rows"] == 6
    assert spans["scroll"].attributes["db.response.returned_rows"] == len(page) == 5
    assert spans["retrieve"].attributes["db.response.returned_rows"] == len(records) == 2
    assert spans["delete"].attributes["gen_ai.operation.name"] == "delete_documents"
    documents = json.loads(spans["query_batch_points"].attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == [0, 1] * 3
    assert documents[0]["score"] == pytest.approx(near(0)[0])


async def test_qdrant_async_local(otel: Any) -> None:
    client = qdrant_client.AsyncQdrantClient(":memory:")
    await client.create_collection("docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    await client.upsert("docs", points=_points())
    with instrumented(otel, QdrantInstrumentor()):
        result = await client.query_points("docs", query=near(6), limit=2)
    assert [p.id for p in result.points] == [6, 7]
    _expect_one_query(otel, "qdrant", "docs", "query_points", 2, 2)


def test_qdrant_missing_collection_keeps_the_users_exception(otel: Any) -> None:
    client = qdrant_client.QdrantClient(":memory:")
    with pytest.raises(ValueError) as plain:
        client.query_points("nowhere", query=near(0), limit=1)
    with instrumented(otel, QdrantInstrumentor()), pytest.raises(ValueError) as caught:
        client.query_points("nowhere", query=near(0), limit=1)
    assert str(caught.value) == str(plain.value)
    (span,) = retrieval_spans(otel)
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["db.collection.name"] == "nowhere"
    assert "db.response.returned_rows" not in span.attributes


def _lance_rows() -> list[dict[str, Any]]:
    return [{"id": f"d{i}", "vector": axis(i), "text": f"document {i}"} for i in range(DIM)]


def test_lancedb_search(otel: Any, tmp_path: Any) -> None:
    plain = lancedb.connect(tmp_path / "plain").create_table("docs", data=_lance_rows())
    expected = plain.search(near(1)).limit(3).to_list()

    table = lancedb.connect(tmp_path / "db").create_table("docs", data=_lance_rows()[:1])
    with instrumented(otel, LanceDBInstrumentor()):
        table.add(_lance_rows()[1:])
        result = table.search(near(1)).limit(3).to_list()
    assert result == expected
    assert [r["id"] for r in result] == ["d1", "d2", "d3"]
    _expect_one_query(otel, "lancedb", "docs", "search", 3, 3)
    (write,) = [s for s in store_spans(otel) if s.attributes["gen_ai.operation.name"] != "retrieval"]
    assert (write.name, write.attributes["db.response.returned_rows"]) == ("add_documents docs", DIM - 1)
    assert write.parent is None  # the sync write's own span, not a second one from LanceDB's loop thread


def test_lancedb_to_arrow_and_capture(otel: Any, tmp_path: Any) -> None:
    table = lancedb.connect(tmp_path / "db").create_table("docs", data=_lance_rows())
    with instrumented(otel, LanceDBInstrumentor(), capture="span_only"):
        frame = table.search(near(5)).limit(2).to_arrow()
    assert frame.column("id").to_pylist() == ["d5", "d6"]
    (span,) = retrieval_spans(otel)
    documents = json.loads(span.attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == ["d5", "d6"]
    assert documents[0]["score"] == pytest.approx(frame.column("_distance").to_pylist()[0])


async def test_lancedb_async(otel: Any, tmp_path: Any) -> None:
    db = await lancedb.connect_async(tmp_path / "db")
    table = await db.create_table("docs", data=_lance_rows())
    with instrumented(otel, LanceDBInstrumentor()):
        result = await table.query().nearest_to(near(2)).limit(4).to_list()
    assert [r["id"] for r in result] == ["d2", "d3", "d4", "d5"]
    _expect_one_query(otel, "lancedb", "docs", "search", 4, None)


def test_faiss_index_search_counts_real_neighbours(otel: Any) -> None:
    faiss = pytest.importorskip("faiss")
    import numpy as np

    vectors = np.array([axis(i) for i in range(DIM)], dtype="float32")
    plain = faiss.IndexFlatL2(DIM)
    plain.add(vectors)
    expected = plain.search(np.array([near(1), near(6)], dtype="float32"), 3)

    index = faiss.IndexFlatL2(DIM)
    with instrumented(otel, FaissInstrumentor(), capture="span_only"):
        index.add(vectors)
        distances, labels = index.search(np.array([near(1), near(6)], dtype="float32"), 3)
        _, padded = index.search(np.array([near(0)], dtype="float32"), DIM + 2)  # more asked than stored
    assert (distances == expected[0]).all() and (labels == expected[1]).all()
    assert labels.tolist() == [[1, 2, 3], [6, 7, 0]]
    first, second = retrieval_spans(otel)
    assert dict(first.attributes) | {"gen_ai.retrieval.documents": None} == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "faiss",
        "db.operation.name": "search",
        "gen_ai.request.top_k": 3,
        "db.response.returned_rows": 6,
        "faiss.index.type": "IndexFlatL2",
        "gen_ai.retrieval.documents": None,
    }
    assert [d["id"] for d in json.loads(first.attributes["gen_ai.retrieval.documents"])] == [1, 2, 3, 6, 7, 0]
    assert padded.tolist()[0][-2:] == [-1, -1]
    assert second.attributes["db.response.returned_rows"] == DIM
    (write,) = [s for s in store_spans(otel) if s.attributes["gen_ai.operation.name"] == "add_documents"]
    assert write.attributes["db.response.returned_rows"] == DIM


def test_under_instrument_each_store_gives_one_retrieval_span_with_its_own_system(otel: Any, tmp_path: Any) -> None:
    """The Done-when, through ``instrument()`` and the entry points: Chroma, Qdrant (local) and LanceDB."""
    import chromadb

    import otel_agentmetrics

    chroma = chromadb.EphemeralClient().get_or_create_collection("chroma-docs", embedding_function=None)
    chroma.add(ids=[f"d{i}" for i in range(DIM)], embeddings=[axis(i) for i in range(DIM)])
    qdrant = qdrant_client.QdrantClient(":memory:")
    qdrant.create_collection("qdrant-docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    qdrant.upsert("qdrant-docs", points=_points())
    lance = lancedb.connect(tmp_path / "db").create_table("lance-docs", data=_lance_rows())
    plain = (
        chroma.query(query_embeddings=[near(1)], n_results=2),
        qdrant.query_points("qdrant-docs", query=near(1), limit=3),
        lance.search(near(1)).limit(4).to_list(),
    )
    otel_agentmetrics.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, store=False)
    try:
        traced = (
            chroma.query(query_embeddings=[near(1)], n_results=2),
            qdrant.query_points("qdrant-docs", query=near(1), limit=3),
            lance.search(near(1)).limit(4).to_list(),
        )
    finally:
        otel_agentmetrics.uninstrument()
    assert traced == plain
    spans = retrieval_spans(otel)
    assert [
        (s.attributes["db.system.name"], s.attributes["db.collection.name"], s.attributes["db.response.returned_rows"])
        for s in spans
    ] == [("chroma", "chroma-docs", 2), ("qdrant", "qdrant-docs", 3), ("lancedb", "lance-docs", 4)]
    points = {p.attributes["db.system.name"]: p.count for p in duration_points(otel)}
    assert points == {"chroma": 1, "qdrant": 1, "lancedb": 1}


def test_lancedb_full_text_and_hybrid_searches_are_one_span_each(otel: Any, tmp_path: Any) -> None:
    import warnings

    rows = [
        {"id": f"d{i}", "vector": axis(i), "text": f"document {i} about {'cats' if i % 2 else 'dogs'}"}
        for i in range(DIM)
    ]
    table = lancedb.connect(tmp_path / "db").create_table("docs", data=rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_fts_index's deprecation in favour of create_index(config=FTS())
        table.create_fts_index("text")
    expected_hybrid = table.search(query_type="hybrid").vector(near(1)).text("cats").limit(3).to_list()
    with instrumented(otel, LanceDBInstrumentor(), capture="span_only"):
        fts = table.search("cats", query_type="fts").limit(10).to_list()
        hybrid = table.search(query_type="hybrid").vector(near(1)).text("cats").limit(3).to_list()
    assert sorted(r["id"] for r in fts) == ["d1", "d3", "d5", "d7"]
    assert [r["id"] for r in hybrid] == [r["id"] for r in expected_hybrid]
    full_text, both = retrieval_spans(otel)  # the hybrid's inner vector and full-text queries folded into it
    assert full_text.attributes["db.response.returned_rows"] == 4
    assert full_text.attributes["gen_ai.retrieval.query.text"] == "cats"
    assert (both.attributes["db.response.returned_rows"], both.attributes["gen_ai.request.top_k"]) == (3, 3)
    assert both.attributes["gen_ai.retrieval.query.text"] == "cats"
