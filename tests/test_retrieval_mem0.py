"""mem0 through the real ``mem0ai`` ``Memory``/``AsyncMemory``, with local components only: its Qdrant vector store
on disk in a temp dir, a deterministic LangChain embedding class (no model), and ``infer=False`` so no model is
called (the LLM client is configured at a closed loopback port and never used). Memory operations become the
conventions' ``create_memory``/``search_memory``/``delete_memory`` spans; with the Qdrant client instrumented too,
its calls fold into the memory operation's one span; results identical with and without instrumentation.

mem0 pins protobuf<7 while the main environment has 7: this runs in a venv of its own (tests/mem0-env.sh)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.mem0 import Mem0Instrumentor
from otel_agentmetrics.instrumentors.retrieval.qdrant import QdrantInstrumentor

from .retrieval_kit import DIM, duration_points, embed, instrumented, retrieval_spans, row_points

os.environ.setdefault("MEM0_TELEMETRY", "False")  # mem0 reads it on import: no usage events sent anywhere
if os.environ.get("MEM0_TESTS_REQUIRED") != "1":
    pytest.importorskip("mem0", reason="mem0 runs in its own venv: bash tests/mem0-env.sh")
from langchain_core.embeddings import Embeddings  # noqa: E402
from mem0 import AsyncMemory, Memory  # noqa: E402


class HashEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed(text)


def _config(path: Any, collection: str = "memories") -> dict[str, Any]:
    return {
        "embedder": {"provider": "langchain", "config": {"model": HashEmbeddings(), "embedding_dims": DIM}},
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "collection_name": collection,
                "path": str(path / "qdrant"),
                "embedding_model_dims": DIM,
                "on_disk": True,
            },
        },  # fmt: skip
        "llm": {"provider": "openai", "config": {"api_key": "unused", "openai_base_url": "http://127.0.0.1:9/v1"}},
        "history_db_path": str(path / "history.db"),
    }


FACTS = ["I like green tea", "my cat is called Tom", "I live in Lyon"]


def _fill(memory: Any) -> list[Any]:
    return [memory.add(fact, user_id="u1", infer=False) for fact in FACTS]


def _memories(result: dict[str, Any]) -> list[tuple[str, float]]:
    return [(r["memory"], round(r["score"], 6)) for r in result["results"]]


def test_add_and_search_are_memory_spans_and_results_are_unchanged(otel: Any, tmp_path: Any) -> None:
    plain = Memory.from_config(_config(tmp_path / "plain"))
    _fill(plain)
    expected = plain.search("my cat is called Tom", filters={"user_id": "u1"}, top_k=2, threshold=0.0)

    memory = Memory.from_config(_config(tmp_path / "traced"))
    with instrumented(otel, Mem0Instrumentor()):
        added = _fill(memory)
        result = memory.search("my cat is called Tom", filters={"user_id": "u1"}, top_k=2, threshold=0.0)
    assert [a["results"][0]["event"] for a in added] == ["ADD"] * 3
    assert _memories(result) == _memories(expected)
    assert result["results"][0]["memory"] == "my cat is called Tom"

    spans = [s for s in otel.finished() if s.attributes.get("db.system.name") == "qdrant"]
    creates = [s for s in spans if s.attributes["gen_ai.operation.name"] == "create_memory"]
    assert len(creates) == 3
    assert dict(creates[0].attributes) == {
        "gen_ai.operation.name": "create_memory",
        "db.system.name": "qdrant",
        "db.collection.name": "memories",
        "db.operation.name": "add",
        "db.response.returned_rows": 1,
    }
    (search,) = [s for s in spans if s.attributes["gen_ai.operation.name"] == "search_memory"]
    assert search.name == "search_memory memories"
    assert dict(search.attributes) == {
        "gen_ai.operation.name": "search_memory",
        "db.system.name": "qdrant",
        "db.collection.name": "memories",
        "db.operation.name": "search",
        "gen_ai.request.top_k": 2,
        "db.response.returned_rows": 2,
    }
    assert retrieval_spans(otel) == []  # memory operations, never `retrieval`
    (point,) = duration_points(otel, "search_memory")
    assert point.count == 1
    (created,) = duration_points(otel, "create_memory")
    assert created.count == 3
    (rows,) = [p for p in row_points(otel) if p.attributes["gen_ai.operation.name"] == "search_memory"]
    assert (rows.count, rows.sum) == (1, 2)


def test_with_qdrant_instrumented_its_calls_fold_into_the_memory_span(otel: Any, tmp_path: Any) -> None:
    memory = Memory.from_config(_config(tmp_path))
    _fill(memory)
    with instrumented(otel, Mem0Instrumentor(), QdrantInstrumentor(), capture="span_only"):
        result = memory.search("I live in Lyon", filters={"user_id": "u1"}, top_k=3, threshold=0.0)
        memory.delete(result["results"][0]["id"])
    search, delete = [s for s in otel.finished() if s.attributes.get("db.system.name") == "qdrant"]
    assert search.attributes["gen_ai.operation.name"] == "search_memory"
    assert search.attributes["db.operation.name"] != "search"  # the Qdrant client's own operation, folded in
    assert result["results"][0]["memory"] == "I live in Lyon"
    assert search.attributes["db.response.returned_rows"] == len(result["results"])  # what mem0 returned
    assert search.attributes["gen_ai.retrieval.query.text"] == "I live in Lyon"
    documents = json.loads(search.attributes["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == [r["id"] for r in result["results"]]
    assert documents[0]["score"] == pytest.approx(result["results"][0]["score"])
    assert delete.attributes["gen_ai.operation.name"] == "delete_memory"


async def test_async_memory(otel: Any, tmp_path: Any) -> None:
    memory = AsyncMemory(Memory.from_config(_config(tmp_path)).config)
    with instrumented(otel, Mem0Instrumentor()):
        await memory.add("I like green tea", user_id="u2", infer=False)
        result = await memory.search("I like green tea", filters={"user_id": "u2"}, top_k=1, threshold=0.0)
    assert result["results"][0]["memory"] == "I like green tea"
    create, search = [s for s in otel.finished() if s.attributes.get("db.system.name") == "qdrant"]
    assert create.attributes["gen_ai.operation.name"] == "create_memory"
    assert (search.attributes["gen_ai.operation.name"], search.attributes["db.response.returned_rows"]) == (
        "search_memory",
        1,
    )
