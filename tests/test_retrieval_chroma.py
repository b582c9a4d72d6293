"""Chroma through the real ``chromadb`` (in-process engine, explicit vectors): one ``retrieval`` span per query
with store, collection and rows, one duration point, writes as their own operation, results unchanged."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.chromadb import ChromaInstrumentor

from .retrieval_kit import DIM, axis, duration_points, instrumented, near, retrieval_spans, row_points, store_spans

chromadb = pytest.importorskip("chromadb")


def _collection(name: str | None = None) -> Any:
    client = chromadb.EphemeralClient()
    return client.get_or_create_collection(name or f"docs-{uuid.uuid4().hex[:8]}", embedding_function=None)


def _fill(collection: Any) -> None:
    collection.add(
        ids=[f"d{i}" for i in range(DIM)],
        embeddings=[axis(i) for i in range(DIM)],
        documents=[f"document {i}" for i in range(DIM)],
    )


def test_query_is_one_retrieval_span_with_store_collection_rows_and_a_duration_point(otel: Any) -> None:
    plain = _collection()
    _fill(plain)
    expected = plain.query(query_embeddings=[near(2)], n_results=3)

    collection = _collection()
    with instrumented(otel, ChromaInstrumentor()):
        _fill(collection)
        result = collection.query(query_embeddings=[near(2)], n_results=3)
    assert result == expected  # the user's result, unchanged
    assert result["ids"] == [["d2", "d3", "d4"]]

    (span,) = retrieval_spans(otel)
    assert span.name == f"retrieval {collection.name}"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "chroma",
        "db.collection.name": collection.name,
        "db.operation.name": "query",
        "gen_ai.request.top_k": 3,
        "db.response.returned_rows": 3,
    }
    (write,) = [s for s in store_spans(otel) if s is not span]
    assert write.name == f"add_documents {collection.name}"
    assert write.attributes["gen_ai.operation.name"] == "add_documents"
    assert write.attributes["db.operation.name"] == "add"
    assert write.attributes["db.response.returned_rows"] == DIM

    (point,) = duration_points(otel)
    assert point.count == 1
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "chroma",
        "db.collection.name": collection.name,
        "db.operation.name": "query",
    }
    assert point.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=0.005)
    rows = {p.attributes["gen_ai.operation.name"]: p for p in row_points(otel)}
    assert (rows["retrieval"].count, rows["retrieval"].sum) == (1, 3)


def test_several_query_vectors_count_the_rows_of_all(otel: Any) -> None:
    collection = _collection()
    _fill(collection)
    with instrumented(otel, ChromaInstrumentor()):
        result = collection.query(query_embeddings=[near(0), near(1)], n_results=2)
        got = collection.get(ids=["d1", "d5", "missing"])
    assert [len(ids) for ids in result["ids"]] == [2, 2]
    query, get = retrieval_spans(otel)
    assert query.attributes["db.response.returned_rows"] == 4
    assert (get.attributes["db.operation.name"], get.attributes["db.response.returned_rows"]) == ("get", 2)
    assert sorted(got["ids"]) == ["d1", "d5"]


def test_content_only_with_capture_on(otel: Any) -> None:
    collection = _collection()
    _fill(collection)
    with instrumented(otel, ChromaInstrumentor()):
        collection.query(query_embeddings=[near(4)], n_results=2)
    (span,) = retrieval_spans(otel)
    assert not any(key.startswith("gen_ai.retrieval.") for key in span.attributes)

    otel.spans.clear()
    with instrumented(otel, ChromaInstrumentor(), capture="span_only"):
        collection.query(query_embeddings=[near(4)], n_results=2)
    (span,) = retrieval_spans(otel)
    documents = json.loads(span.attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == ["d4", "d5"]
    query = near(4)
    for doc, axis_index in zip(documents, (4, 5), strict=True):  # squared L2 from the query to each unit axis
        expected = sum((q - a) ** 2 for q, a in zip(query, axis(axis_index), strict=True))
        assert doc["score"] == pytest.approx(expected, abs=1e-5)


def test_a_failing_query_keeps_the_users_exception_and_records_its_type(otel: Any) -> None:
    collection = _collection()
    _fill(collection)
    with pytest.raises(Exception) as plain:
        collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)  # wrong dimension
    with instrumented(otel, ChromaInstrumentor()), pytest.raises(type(plain.value)) as caught:
        collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)
    assert str(caught.value) == str(plain.value)
    (span,) = retrieval_spans(otel)
    assert span.attributes["error.type"] == type(plain.value).__qualname__
    assert span.status.status_code.name == "ERROR"
    (point,) = duration_points(otel)
    assert point.attributes["error.type"] == type(plain.value).__qualname__


def test_uninstrument_restores_the_methods(otel: Any) -> None:
    from chromadb.api.models.Collection import Collection

    original = Collection.__dict__["query"]
    with instrumented(otel, ChromaInstrumentor()):
        assert Collection.__dict__["query"] is not original
    assert Collection.__dict__["query"] is original
    _collection().query(query_embeddings=[near(0)], n_results=1)
    assert store_spans(otel) == []


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real Chroma server (``chroma run``, the package's own) on a free loopback port."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    command = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if command is None:
        pytest.skip("the chroma command (chromadb's server) is not on PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path_factory.mktemp("chroma")
    server = subprocess.Popen(
        [command, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_http_client_spans_carry_the_servers_address(otel: Any, chroma_server: int) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server)
    collection = client.get_or_create_collection(f"remote-{uuid.uuid4().hex[:6]}", embedding_function=None)
    _fill(collection)
    with instrumented(otel, ChromaInstrumentor()):
        result = collection.query(query_embeddings=[near(6)], n_results=2)
    assert result["ids"] == [["d6", "d7"]]
    (span,) = retrieval_spans(otel)
    assert (span.attributes["server.address"], span.attributes["server.port"]) == ("127.0.0.1", chroma_server)
    (point,) = duration_points(otel)
    assert point.attributes["server.address"] == "127.0.0.1"


async def test_async_collection_query_and_write(otel: Any, chroma_server: int) -> None:
    client = await chromadb.AsyncHttpClient(host="127.0.0.1", port=chroma_server)
    name = f"async-{uuid.uuid4().hex[:6]}"
    collection = await client.get_or_create_collection(name, embedding_function=None)
    with instrumented(otel, ChromaInstrumentor()):
        await collection.add(ids=[f"d{i}" for i in range(DIM)], embeddings=[axis(i) for i in range(DIM)])
        result = await collection.query(query_embeddings=[near(3)], n_results=4)
        with pytest.raises(Exception) as caught:  # noqa: B017 - whatever the server answers for a wrong dimension
            await collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)
    assert result["ids"] == [["d3", "d4", "d5", "d6"]]
    write, query, failed = store_spans(otel)
    assert (write.attributes["gen_ai.operation.name"], write.attributes["db.response.returned_rows"]) == (
        "add_documents",
        DIM,
    )
    assert query.attributes["db.response.returned_rows"] == 4
    assert query.attributes["db.collection.name"] == name
    assert query.attributes["server.port"] == chroma_server
    assert failed.attributes["error.type"] == type(caught.value).__qualname__
