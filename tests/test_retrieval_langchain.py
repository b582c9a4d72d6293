"""LangChain retrievers and vector stores through the real ``langchain-core`` (and ``langchain-chroma`` over the
real Chroma engine), with a deterministic embedding class: one ``retrieval`` span per ``invoke``, carrying the
store's details when its client is instrumented too; results unchanged."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from otel_agentmetrics import agent
from otel_agentmetrics.instrumentors.retrieval.chromadb import ChromaInstrumentor
from otel_agentmetrics.instrumentors.retrieval.langchain import LangChainRetrievalInstrumentor

from .retrieval_kit import duration_points, embed, instrumented, retrieval_spans, store_spans

TEXTS = ["the cat sat", "dogs bark", "fish swim", "birds fly", "cows moo"]


class HashEmbeddings(Embeddings):
    """Deterministic vectors from the text (no model): a query for a stored text finds that text first."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed(text)


def _documents() -> list[Document]:
    return [Document(page_content=t, id=f"doc{i}") for i, t in enumerate(TEXTS)]


def test_in_memory_retriever_invoke_is_one_span(otel: Any) -> None:
    plain = InMemoryVectorStore(HashEmbeddings())
    plain.add_documents(_documents())
    expected = plain.as_retriever(search_kwargs={"k": 2}).invoke("fish swim")

    store = InMemoryVectorStore(HashEmbeddings())
    with instrumented(otel, LangChainRetrievalInstrumentor()):
        store.add_documents(_documents())
        retriever = store.as_retriever(search_kwargs={"k": 2})
        first = retriever.invoke("fish swim")
        second = retriever.invoke("dogs bark")
    assert first == expected
    assert (first[0].id, second[0].id) == ("doc2", "doc1")

    spans = retrieval_spans(otel)
    assert len(spans) == 2  # one per invoke: the similarity_search inside folded into it
    assert dict(spans[0].attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "inmemory",
        "db.operation.name": "similarity_search_with_score",  # the innermost method: similarity_search calls it
        "gen_ai.request.top_k": 2,
        "db.response.returned_rows": 2,
    }
    assert spans[0].name == "retrieval"
    (write,) = [s for s in store_spans(otel) if s not in spans]
    assert (write.attributes["gen_ai.operation.name"], write.attributes["db.response.returned_rows"]) == (
        "add_documents",
        len(TEXTS),
    )
    (point,) = duration_points(otel)
    assert point.count == 2


async def test_ainvoke_and_async_search_are_one_span_each(otel: Any) -> None:
    store = InMemoryVectorStore(HashEmbeddings())
    await store.aadd_documents(_documents())
    with instrumented(otel, LangChainRetrievalInstrumentor(), capture="span_only"):
        found = await store.as_retriever(search_kwargs={"k": 3}).ainvoke("birds fly")
        scored = await store.asimilarity_search_with_score("cows moo", k=1)
    assert found[0].id == "doc3" and scored[0][0].id == "doc4"
    invoke, search = retrieval_spans(otel)
    assert invoke.attributes["db.response.returned_rows"] == 3
    assert invoke.attributes["gen_ai.retrieval.query.text"] == "birds fly"
    assert [d["id"] for d in json.loads(invoke.attributes["gen_ai.retrieval.documents"])] == [d.id for d in found]
    assert search.attributes["db.operation.name"] == "similarity_search_with_score"
    (doc,) = json.loads(search.attributes["gen_ai.retrieval.documents"])
    assert doc == {"id": "doc4", "score": pytest.approx(scored[0][1])}


def test_chroma_retriever_gives_one_span_with_chromas_details(otel: Any) -> None:
    chroma = pytest.importorskip("langchain_chroma")
    import chromadb

    name = f"lc-{uuid.uuid4().hex[:8]}"
    client = chromadb.EphemeralClient()
    with instrumented(otel, LangChainRetrievalInstrumentor(), ChromaInstrumentor()):
        store = chroma.Chroma(collection_name=name, embedding_function=HashEmbeddings(), client=client)
        store.add_documents(_documents(), ids=[f"doc{i}" for i in range(len(TEXTS))])
        otel.spans.clear()
        with agent("researcher"):
            docs = store.as_retriever(search_kwargs={"k": 2}).invoke("the cat sat")
    assert docs[0].page_content == "the cat sat"
    (span,) = retrieval_spans(otel)  # retriever, LangChain's Chroma and chromadb's query: one span
    assert dict(span.attributes) == {
        "gen_ai.agent.name": "researcher",
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "chroma",
        "db.collection.name": name,
        "db.operation.name": "query",
        "gen_ai.request.top_k": 2,
        "db.response.returned_rows": 2,
    }
    assert span.name == f"retrieval {name}"
    (agent_span,) = [s for s in otel.finished() if s.name == "invoke_agent researcher"]
    assert span.parent.span_id == agent_span.context.span_id
    assert agent_span.attributes["agentmetrics.agent.retrievals"] == 1
    assert agent_span.attributes["agentmetrics.agent.retrieval_duration"] == pytest.approx(
        (span.end_time - span.start_time) / 1e9, abs=0.002
    )
    (point,) = [p for p in duration_points(otel) if p.attributes.get("db.system.name") == "chroma"]
    assert point.attributes["db.collection.name"] == name


def test_concurrent_retrievals_in_threads_and_tasks_each_get_their_own_span(otel: Any) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    store = InMemoryVectorStore(HashEmbeddings())
    store.add_documents(_documents())
    retriever = store.as_retriever(search_kwargs={"k": 2})
    with instrumented(otel, LangChainRetrievalInstrumentor()):
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(retriever.invoke, TEXTS * 4))

        async def many() -> list[Any]:
            return await asyncio.gather(*(retriever.ainvoke(t) for t in TEXTS))

        gathered = asyncio.run(many())
    assert [docs[0].page_content for docs in found] == TEXTS * 4
    assert [docs[0].page_content for docs in gathered] == TEXTS
    spans = retrieval_spans(otel)
    assert len(spans) == len(TEXTS) * 5  # one per invoke: none folded into another running at the same time
    assert all(s.attributes["db.response.returned_rows"] == 2 and s.parent is None for s in spans)
    (point,) = duration_points(otel)
    assert point.count == len(TEXTS) * 5
    (active,) = otel.metric_points("agentmetrics.store_operations.active")
    assert (dict(active.attributes), active.value) == ({"gen_ai.operation.name": "retrieval"}, 0)
