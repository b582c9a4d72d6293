"""LlamaIndex retrievers and a query engine's retrieval step through the real ``llama-index-core`` (a
``VectorStoreIndex`` over its in-memory ``SimpleVectorStore``, a deterministic embedding class, no model): one
``retrieval`` span per ``retrieve``/``aretrieve``/``query``; a retriever over an instrumented Chroma collection is
one span carrying Chroma's details; results unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.chromadb import ChromaInstrumentor
from otel_agentmetrics.instrumentors.retrieval.llamaindex import LlamaIndexRetrievalInstrumentor

from .retrieval_kit import DIM, axis, duration_points, embed, instrumented, near, retrieval_spans, row_points

pytest.importorskip("llama_index.core")
from llama_index.core import Document, VectorStoreIndex  # noqa: E402
from llama_index.core.base.base_retriever import BaseRetriever  # noqa: E402
from llama_index.core.embeddings import BaseEmbedding  # noqa: E402
from llama_index.core.llms.mock import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.response_synthesizers.no_text import NoText  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

TEXTS = ["the cat sat", "dogs bark", "fish swim", "birds fly", "cows moo"]


class HashEmbedding(BaseEmbedding):
    """Deterministic vectors from the text (no model): a query for a stored text finds that text first."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return embed(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return embed(text)


def _index() -> Any:
    documents = [Document(text=t, id_=f"doc{i}") for i, t in enumerate(TEXTS)]
    return VectorStoreIndex.from_documents(documents, embed_model=HashEmbedding())


def _ids(nodes: list[Any]) -> list[tuple[str, float | None]]:
    return [(n.node.get_content(), n.score) for n in nodes]


def test_retrieve_is_one_span_and_results_are_unchanged(otel: Any) -> None:
    expected = _index().as_retriever(similarity_top_k=2).retrieve("fish swim")
    retriever = _index().as_retriever(similarity_top_k=2)
    with instrumented(otel, LlamaIndexRetrievalInstrumentor()):
        result = retriever.retrieve("fish swim")
        again = retriever.retrieve(QueryBundle("dogs bark"))
    assert _ids(result) == _ids(expected)
    assert (result[0].node.get_content(), again[0].node.get_content()) == ("fish swim", "dogs bark")

    first, second = retrieval_spans(otel)
    assert first.name == "retrieval"  # a SimpleVectorStore has no collection name
    assert dict(first.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "simple",
        "db.operation.name": "retrieve",
        "gen_ai.request.top_k": 2,
        "db.response.returned_rows": 2,
    }
    assert "gen_ai.retrieval.query.text" not in second.attributes  # capture off
    (point,) = duration_points(otel)
    assert point.count == 2
    (rows,) = row_points(otel)
    assert (rows.count, rows.sum) == (2, 4)


def test_query_engine_retrieval_step_is_one_span_with_capture(otel: Any) -> None:
    synthesizer = NoText(llm=MockLLM())  # no model: retrieval only
    engine = RetrieverQueryEngine(_index().as_retriever(similarity_top_k=3), response_synthesizer=synthesizer)
    with instrumented(otel, LlamaIndexRetrievalInstrumentor(), capture="span_only"):
        response = engine.query("birds fly")
    assert response.source_nodes[0].node.get_content() == "birds fly"
    (span,) = retrieval_spans(otel)
    assert span.attributes["db.response.returned_rows"] == len(response.source_nodes) == 3
    assert span.attributes["gen_ai.retrieval.query.text"] == "birds fly"
    documents = json.loads(span.attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == [n.node.node_id for n in response.source_nodes]
    assert documents[0]["score"] == pytest.approx(response.source_nodes[0].score)


async def test_aretrieve(otel: Any) -> None:
    retriever = _index().as_retriever(similarity_top_k=1)
    with instrumented(otel, LlamaIndexRetrievalInstrumentor()):
        result = await retriever.aretrieve("cows moo")
    assert result[0].node.get_content() == "cows moo"
    (span,) = retrieval_spans(otel)
    assert (span.attributes["gen_ai.request.top_k"], span.attributes["db.response.returned_rows"]) == (1, 1)


chromadb = pytest.importorskip("chromadb")


class ChromaRetriever(BaseRetriever):
    """A retriever over a raw Chroma collection (explicit query vectors): the shape of a store integration."""

    def __init__(self, collection: Any) -> None:
        super().__init__()
        self.collection = collection

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        axis_index = int(query_bundle.query_str)
        found = self.collection.query(query_embeddings=[near(axis_index)], n_results=2)
        return [
            NodeWithScore(node=TextNode(id_=i, text=t), score=d)
            for i, t, d in zip(found["ids"][0], found["documents"][0], found["distances"][0], strict=True)
        ]


def test_retriever_over_instrumented_chroma_is_one_span_with_chromas_details(otel: Any) -> None:
    collection = chromadb.EphemeralClient().get_or_create_collection("li-docs", embedding_function=None)
    collection.add(ids=[f"d{i}" for i in range(DIM)], embeddings=[axis(i) for i in range(DIM)],
                   documents=[f"document {i}" for i in range(DIM)])  # fmt: skip
    retriever = ChromaRetriever(collection)
    with instrumented(otel, LlamaIndexRetrievalInstrumentor(), ChromaInstrumentor()):
        result = retriever.retrieve("4")
    assert [n.node.node_id for n in result] == ["d4", "d5"]
    (span,) = retrieval_spans(otel)  # Chroma's query folded into the retriever's span
    assert span.name == "retrieval li-docs"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "chroma",
        "db.collection.name": "li-docs",
        "db.operation.name": "query",
        "gen_ai.request.top_k": 2,
        "db.response.returned_rows": 2,
    }
    (point,) = duration_points(otel)
    assert point.count == 1
