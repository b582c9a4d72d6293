"""Added cost of tracing a retrieval, per query, against the same query uninstrumented, in the same process.

Scenarios (embedded engines, explicit vectors, 64 stored vectors of 32 dimensions, top 5):

- ``chroma query``: ``Collection.query`` on an in-process Chroma collection.
- ``qdrant query_points``: ``QdrantClient(":memory:").query_points``.
- ``lancedb search``: ``table.search(v).limit(5).to_arrow()`` on a local table.
- ``faiss search``: ``IndexFlatL2.search``, the fastest query here: the overhead is nearly all there is.
- ``langchain retriever``: ``InMemoryVectorStore.as_retriever().invoke`` (three layers fold into one span).

Each is timed uninstrumented and under ``instrument()`` in alternating rounds. Spans go through a batch processor
to a dropping exporter and metrics to an in-memory reader (what a real setup pays, minus the network). Prints the
median CPU time per query over the rounds (process time: other processes on a shared machine weigh less), the
overhead per query and as a share of the query.

    python benchmarks/retrieval_overhead.py [--rounds 5] [--queries 300]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_agentmetrics as agentmetrics

DIM, ROWS, TOP_K = 32, 64, 5


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _vectors() -> list[list[float]]:
    rng = random.Random(7)
    return [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(ROWS)]


VECTORS = _vectors()
QUERY = VECTORS[3]


def chroma_query() -> Callable[[], Any]:
    import chromadb

    collection = chromadb.EphemeralClient().get_or_create_collection("bench", embedding_function=None)
    collection.add(ids=[str(i) for i in range(ROWS)], embeddings=VECTORS)
    return lambda: collection.query(query_embeddings=[QUERY], n_results=TOP_K)


def qdrant_query() -> Callable[[], Any]:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(":memory:")
    client.create_collection("bench", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    client.upsert("bench", points=[models.PointStruct(id=i, vector=v) for i, v in enumerate(VECTORS)])
    return lambda: client.query_points("bench", query=QUERY, limit=TOP_K)


def lancedb_search() -> Callable[[], Any]:
    import lancedb

    table = lancedb.connect(tempfile.mkdtemp()).create_table(
        "bench", data=[{"id": i, "vector": v} for i, v in enumerate(VECTORS)]
    )
    return lambda: table.search(QUERY).limit(TOP_K).to_arrow()


def faiss_search() -> Callable[[], Any]:
    import faiss
    import numpy

    index = faiss.IndexFlatL2(DIM)
    index.add(numpy.array(VECTORS, dtype="float32"))
    query = numpy.array([QUERY], dtype="float32")
    return lambda: index.search(query, TOP_K)


def langchain_retriever() -> Callable[[], Any]:
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import InMemoryVectorStore

    class Fixed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [VECTORS[int(t)] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return QUERY

    store = InMemoryVectorStore(Fixed())
    store.add_texts([str(i) for i in range(ROWS)])
    retriever = store.as_retriever(search_kwargs={"k": TOP_K})
    return lambda: retriever.invoke("3")


def _per_query(run: Callable[[], Any], queries: int) -> float:
    start = time.process_time()
    for _ in range(queries):
        run()
    return (time.process_time() - start) / queries


def measure(run: Callable[[], Any], rounds: int, queries: int, providers: tuple[Any, Any]) -> tuple[float, float]:
    """Median seconds per query, uninstrumented and instrumented, from alternating rounds."""
    run()  # warm-up: first-call caches
    plain: list[float] = []
    traced: list[float] = []
    for _ in range(rounds):
        plain.append(_per_query(run, queries))
        agentmetrics.instrument(tracer_provider=providers[0], meter_provider=providers[1], store=False)
        run()  # the first instrumented query pays one-off costs (instruments created on first use)
        traced.append(_per_query(run, queries))
        agentmetrics.uninstrument()
    return statistics.median(plain), statistics.median(traced)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=300)
    options = parser.parse_args()

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=100_000))
    providers = (tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    packages = ("chromadb", "qdrant-client", "lancedb", "faiss-cpu", "langchain-core", "opentelemetry-sdk")
    print(f"python {platform.python_version()} on {platform.machine()}; ", end="")
    print(", ".join(f"{name} {version(name)}" for name in packages))
    print(f"{'scenario':<24}{'plain/query':>13}{'traced/query':>14}{'overhead':>11}{'share':>8}")
    scenarios: list[tuple[str, Callable[[], Callable[[], Any]]]] = [
        ("chroma query", chroma_query),
        ("qdrant query_points", qdrant_query),
        ("lancedb search", lancedb_search),
        ("faiss search", faiss_search),
        ("langchain retriever", langchain_retriever),
    ]
    for name, build in scenarios:
        plain, traced = measure(build(), options.rounds, options.queries, providers)
        overhead = traced - plain
        print(
            f"{name:<24}{plain * 1e6:>11.1f}us{traced * 1e6:>12.1f}us{overhead * 1e6:>9.1f}us"
            f"{overhead / plain * 100:>7.1f}%"
        )
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
