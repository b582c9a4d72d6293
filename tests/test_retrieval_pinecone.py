"""Pinecone through the real ``pinecone`` SDK against a local stand-in of its data-plane HTTP API (in-process, on
a free loopback port; no cloud): ``/vectors/upsert``, ``/query`` (dot product over what was upserted, per
namespace), ``/vectors/fetch``, ``/vectors/delete``. One ``retrieval`` span per query with the server, the rows
and a duration point; writes as their own operation; results identical with and without instrumentation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from otel_agentmetrics.instrumentors.retrieval.pinecone import PineconeInstrumentor

from .retrieval_kit import DIM, axis, duration_points, instrumented, near, retrieval_spans, row_points, store_spans

pinecone = pytest.importorskip("pinecone")


class _Index:
    def __init__(self) -> None:
        self.vectors: dict[str, dict[str, list[float]]] = {}
        self.paths: list[str] = []


def _handler(index: _Index) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            index.paths.append(url.path)
            query = parse_qs(url.query)
            space = index.vectors.get(query.get("namespace", [""])[0], {})
            found = {i: {"id": i, "values": space[i]} for i in query.get("ids", []) if i in space}
            self._send(200, {"vectors": found, "namespace": query.get("namespace", [""])[0]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            index.paths.append(self.path)
            namespace = body.get("namespace", "")
            space = index.vectors.setdefault(namespace, {})
            if self.path == "/vectors/upsert":
                for vector in body["vectors"]:
                    space[vector["id"]] = vector["values"]
                self._send(200, {"upsertedCount": len(body["vectors"])})
            elif self.path == "/query":
                if namespace not in index.vectors or not space:
                    self._send(404, {"code": 5, "message": f"Namespace not found: {namespace}", "details": []})
                    return
                scored = sorted(
                    (
                        (sum(a * b for a, b in zip(body["vector"], values, strict=True)), key)
                        for key, values in space.items()
                    ),
                    key=lambda pair: (-pair[0], pair[1]),
                )[: body["topK"]]
                matches = [{"id": key, "score": score} for score, key in scored]
                self._send(200, {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}})
            elif self.path == "/vectors/delete":
                for key in body.get("ids", []):
                    space.pop(key, None)
                self._send(200, {})
            else:
                self._send(404, {"message": "not found"})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stand_in() -> Iterator[tuple[str, _Index]]:
    index = _Index()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", index
    finally:
        server.shutdown()
        server.server_close()


def _vectors() -> list[tuple[str, list[float]]]:
    return [(f"v{i}", axis(i)) for i in range(DIM)]


def test_query_is_one_retrieval_span_and_results_are_unchanged(otel: Any, stand_in: tuple[str, _Index]) -> None:
    host, index = stand_in
    plain = pinecone.Pinecone(api_key="test").Index(host=host)
    plain.upsert(vectors=_vectors(), namespace="plain")
    expected = plain.query(vector=near(2), top_k=3, namespace="plain")

    with instrumented(otel, PineconeInstrumentor()):
        traced = pinecone.Pinecone(api_key="test").Index(host=host)
        upserted = traced.upsert(vectors=_vectors(), namespace="docs")
        result = traced.query(vector=near(2), top_k=3, namespace="docs")
    assert upserted.upserted_count == DIM
    assert [(m.id, m.score) for m in result.matches] == [(m.id, m.score) for m in expected.matches]
    assert [m.id for m in result.matches] == ["v2", "v3", "v4"]
    port = int(host.rsplit(":", 1)[1])

    (span,) = retrieval_spans(otel)
    assert span.name == "retrieval"  # a host that is not *.pinecone.io names no index
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "pinecone",
        "db.operation.name": "query",
        "gen_ai.request.top_k": 3,
        "db.response.returned_rows": 3,
        "db.namespace": "docs",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    (write,) = [s for s in store_spans(otel) if s is not span]
    assert (write.name, write.attributes["db.operation.name"]) == ("add_documents", "upsert")
    assert write.attributes["db.response.returned_rows"] == DIM
    (point,) = duration_points(otel)
    assert point.count == 1
    assert point.attributes["server.address"] == "127.0.0.1"
    (rows,) = [p for p in row_points(otel) if p.attributes["gen_ai.operation.name"] == "retrieval"]
    assert (rows.count, rows.sum) == (1, 3)
    assert index.paths.count("/query") == 2  # one query each: the instrumentation sent nothing of its own


def test_fetch_delete_capture_and_an_index_name_from_a_pinecone_host(otel: Any, stand_in: tuple[str, _Index]) -> None:
    host, _ = stand_in
    with instrumented(otel, PineconeInstrumentor(), capture="span_only"):
        index = pinecone.Pinecone(api_key="test").Index(host=host)
        index.upsert(vectors=_vectors())
        found = index.query(vector=near(6), top_k=2)
        fetched = index.fetch(ids=["v1", "v2", "nope"])
        index.delete(ids=["v7"])
    assert [m.id for m in found.matches] == ["v6", "v7"]
    assert sorted(fetched.vectors) == ["v1", "v2"]
    spans = {s.attributes["db.operation.name"]: s for s in store_spans(otel)}
    documents = json.loads(spans["query"].attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == ["v6", "v7"]
    assert documents[0]["score"] == pytest.approx(near(6)[6])
    assert spans["fetch"].attributes["db.response.returned_rows"] == 2
    assert spans["delete"].attributes["gen_ai.operation.name"] == "delete_documents"

    from otel_agentmetrics.instrumentors.retrieval.pinecone import _where

    class Remote:
        _host = "https://docs-a1b2c3d.svc.aped-4627-b74a.pinecone.io"

    assert _where(Remote()) == ("docs", "docs-a1b2c3d.svc.aped-4627-b74a.pinecone.io", 443)


def test_failed_query_keeps_the_users_exception_and_uninstrument_stops(otel: Any, stand_in: tuple[str, _Index]) -> None:
    host, _ = stand_in
    plain = pinecone.Pinecone(api_key="test").Index(host=host)
    with pytest.raises(Exception) as expected:
        plain.query(vector=near(0), top_k=1, namespace="missing")
    with instrumented(otel, PineconeInstrumentor()):
        index = pinecone.Pinecone(api_key="test").Index(host=host)
        with pytest.raises(Exception) as caught:
            index.query(vector=near(0), top_k=1, namespace="missing")
    assert type(caught.value) is type(expected.value)
    assert str(caught.value) == str(expected.value)
    (span,) = retrieval_spans(otel)
    assert span.attributes["error.type"] == type(expected.value).__qualname__
    index.upsert(vectors=_vectors(), namespace="later")  # the instance bound its methods while instrumented
    index.query(vector=near(0), top_k=1, namespace="later")
    assert len(store_spans(otel)) == 1  # nothing after uninstrument()


async def test_async_index(otel: Any, stand_in: tuple[str, _Index]) -> None:
    host, _ = stand_in
    pinecone.Pinecone(api_key="test").Index(host=host).upsert(vectors=_vectors(), namespace="a")
    with instrumented(otel, PineconeInstrumentor()):
        async with pinecone.AsyncIndex(host=host, api_key="test") as index:
            result = await index.query(vector=near(4), top_k=2, namespace="a")
    assert [m.id for m in result.matches] == ["v4", "v5"]
    (span,) = retrieval_spans(otel)
    assert (span.attributes["db.response.returned_rows"], span.attributes["gen_ai.request.top_k"]) == (2, 2)
    (point,) = duration_points(otel)
    assert point.count == 1
