"""Weaviate through the real ``weaviate-client`` v4 against a local stand-in of its gRPC API (an in-process gRPC
server on a free loopback port built from the client's own generated service code; no cloud, no Weaviate binary):
``Search`` answers ``near_vector`` and ``fetch_objects`` queries over eight stored axis vectors (cosine distance),
``BatchDelete`` deletes by id. The client connects with ``skip_init_checks`` (the REST side is not needed for
queries). One ``retrieval`` span per query with the collection, the rows and the server; results identical with
and without instrumentation.

weaviate-client pins protobuf<7 and grpcio<1.79 while the main environment has newer ones: this runs in a venv of
its own (tests/weaviate-env.sh)."""

from __future__ import annotations

import json
import os
import struct
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.weaviate import WeaviateInstrumentor

from .retrieval_kit import DIM, axis, duration_points, instrumented, near, retrieval_spans, row_points, store_spans

if os.environ.get("WEAVIATE_TESTS_REQUIRED") != "1":
    pytest.importorskip("weaviate", reason="weaviate-client runs in its own venv: bash tests/weaviate-env.sh")
import grpc  # noqa: E402
import weaviate  # noqa: E402
from weaviate.classes.query import MetadataQuery  # noqa: E402
from weaviate.proto.v1 import (  # noqa: E402
    batch_delete_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

_REST_PORT = 0  # the REST stand-in of the running test (set by the server fixture)
UUIDS = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(DIM)]


def _vector(near_vector: Any) -> list[float]:
    data = near_vector.vector_bytes or (near_vector.vectors[0].vector_bytes if near_vector.vectors else b"")
    return list(struct.unpack(f"<{len(data) // 4}f", data)) if data else list(near_vector.vector)


class StandIn(weaviate_pb2_grpc.WeaviateServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.objects = {"Docs": {UUIDS[i]: axis(i) for i in range(DIM)}}
        self.searches = 0

    def Search(self, request: Any, context: Any) -> Any:  # noqa: N802 - the service's name
        self.searches += 1
        stored = self.objects.get(request.collection)
        if stored is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f'class "{request.collection}" not found')
        if request.HasField("near_vector"):
            query = _vector(request.near_vector)
            norm = sum(v * v for v in query) ** 0.5
            ranked = sorted((1.0 - sum(a * b for a, b in zip(query, vec, strict=True)) / norm, key)
                            for key, vec in stored.items())  # fmt: skip
        else:
            ranked = [(None, key) for key in sorted(stored)]
        limit = request.limit or len(ranked)
        results = []
        for distance, key in ranked[:limit]:
            metadata = search_get_pb2.MetadataResult(id_as_bytes=uuid.UUID(key).bytes)  # as Weaviate 1.2x sends it
            if distance is not None:
                metadata.distance, metadata.distance_present = distance, True
            fields = {"title": properties_pb2.Value(text_value=f"doc {UUIDS.index(key)}")}
            properties = search_get_pb2.PropertiesResult(non_ref_props=properties_pb2.Properties(fields=fields))
            results.append(search_get_pb2.SearchResult(metadata=metadata, properties=properties))
        return search_get_pb2.SearchReply(results=results, took=0.1)

    def BatchDelete(self, request: Any, context: Any) -> Any:  # noqa: N802
        stored = self.objects[request.collection]
        before = len(stored)
        stored.clear()  # the stand-in deletes what any filter matches: all
        return batch_delete_pb2.BatchDeleteReply(matches=before, successful=before, failed=0)


@pytest.fixture
def server(rest: int) -> Iterator[tuple[int, StandIn]]:
    global _REST_PORT
    _REST_PORT = rest
    stand_in = StandIn()
    grpc_server = grpc.server(ThreadPoolExecutor(max_workers=4))
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(stand_in, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        yield port, stand_in
    finally:
        grpc_server.stop(None)


class _Meta(BaseHTTPRequestHandler):
    """The REST side: only ``GET /v1/meta``, which the client reads on connect for the server's version."""

    def do_GET(self) -> None:  # noqa: N802
        found = self.path.startswith("/v1/meta")
        body = json.dumps({"version": "1.33.0", "modules": {}} if found else {"error": "not found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rest() -> Iterator[int]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Meta)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield http.server_port
    finally:
        http.shutdown()
        http.server_close()


def _client(port: int) -> Any:
    return weaviate.connect_to_custom(
        http_host="127.0.0.1", http_port=_REST_PORT, http_secure=False,
        grpc_host="127.0.0.1", grpc_port=port, grpc_secure=False, skip_init_checks=True,
    )  # fmt: skip


def _hits(response: Any) -> list[tuple[str, float | None, str]]:
    return [(str(o.uuid), o.metadata.distance, o.properties["title"]) for o in response.objects]


def test_near_vector_is_one_retrieval_span_and_results_are_unchanged(otel: Any, server: tuple[int, StandIn]) -> None:
    port, stand_in = server
    with _client(port) as client:
        docs = client.collections.use("Docs")
        expected = docs.query.near_vector(near(2), limit=3, return_metadata=MetadataQuery(distance=True))
        with instrumented(otel, WeaviateInstrumentor()):
            result = docs.query.near_vector(near(2), limit=3, return_metadata=MetadataQuery(distance=True))
    assert _hits(result) == _hits(expected)
    assert [title for _, _, title in _hits(result)] == ["doc 2", "doc 3", "doc 4"]
    assert stand_in.searches == 2

    (span,) = retrieval_spans(otel)
    assert span.name == "retrieval Docs"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "weaviate",
        "db.collection.name": "Docs",
        "db.operation.name": "search",
        "gen_ai.request.top_k": 3,
        "db.response.returned_rows": 3,
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    (point,) = duration_points(otel)
    assert point.count == 1
    assert point.attributes["db.collection.name"] == "Docs"
    (rows,) = row_points(otel)
    assert (rows.count, rows.sum) == (1, 3)


def test_fetch_objects_capture_delete_many_and_a_missing_collection(otel: Any, server: tuple[int, StandIn]) -> None:
    port, _ = server
    from weaviate.classes.query import Filter

    with _client(port) as client:
        docs = client.collections.use("Docs")
        with pytest.raises(Exception) as expected:
            client.collections.use("Nowhere").query.fetch_objects(limit=1)
        with instrumented(otel, WeaviateInstrumentor(), capture="span_only"):
            hits = docs.query.near_vector(near(6), limit=2, return_metadata=MetadataQuery(distance=True))
            fetched = docs.query.fetch_objects(limit=5)
            with pytest.raises(Exception) as caught:
                client.collections.use("Nowhere").query.fetch_objects(limit=1)
            deleted = docs.data.delete_many(where=Filter.by_property("title").like("doc*"))
    assert [str(o.uuid) for o in hits.objects] == [UUIDS[6], UUIDS[7]]
    assert len(fetched.objects) == 5
    assert deleted.successful == DIM
    assert type(caught.value) is type(expected.value) and str(caught.value) == str(expected.value)

    near_span, fetch_span, failed = retrieval_spans(otel)
    documents = json.loads(near_span.attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == [UUIDS[6], UUIDS[7]]
    assert documents[0]["score"] == pytest.approx(hits.objects[0].metadata.distance)
    assert (fetch_span.attributes["gen_ai.request.top_k"], fetch_span.attributes["db.response.returned_rows"]) == (5, 5)
    assert failed.attributes["db.collection.name"] == "Nowhere"
    assert failed.attributes["error.type"] == type(expected.value).__qualname__
    (delete,) = [s for s in store_spans(otel) if s.attributes["gen_ai.operation.name"] == "delete_documents"]
    assert (delete.attributes["db.collection.name"], delete.attributes["db.response.returned_rows"]) == ("Docs", DIM)


async def test_async_client(otel: Any, server: tuple[int, StandIn]) -> None:
    port, _ = server
    client = weaviate.use_async_with_custom(
        http_host="127.0.0.1", http_port=_REST_PORT, http_secure=False,
        grpc_host="127.0.0.1", grpc_port=port, grpc_secure=False, skip_init_checks=True,
    )  # fmt: skip
    await client.connect()
    try:
        with instrumented(otel, WeaviateInstrumentor()):
            result = await client.collections.use("Docs").query.near_vector(near(4), limit=2)
    finally:
        await client.close()
    assert [str(o.uuid) for o in result.objects] == [UUIDS[4], UUIDS[5]]
    (span,) = retrieval_spans(otel)
    assert (span.attributes["db.response.returned_rows"], span.attributes["gen_ai.request.top_k"]) == (2, 2)
    (point,) = duration_points(otel)
    assert point.count == 1
