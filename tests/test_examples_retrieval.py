"""examples/rag_retrieval.py runs as a user would (against the stand-in server) and records one retrieval span
per query, in the agent runs, with the store, collection and rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agentmetrics.demo.server import StandInServer
from otel_agentmetrics.summary import summary

from .examples_kit import run_example, stored_spans


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(latency=(0.0, 0.0), chunk_delay=0.0) as srv:
        yield srv


def test_rag_retrieval(server: StandInServer, tmp_path: Path) -> None:
    pytest.importorskip("chromadb")
    lines = run_example("rag_retrieval.py", server, tmp_path).stdout.splitlines()
    assert lines[0] == "Lisbon: 2 notes, advisory 'lisbon'; 2 retrievals in the run"
    assert lines[2] == "Kyoto: 2 notes, advisory 'kyoto'; 2 retrievals in the run"
    retrievals = stored_spans(tmp_path, "retrieval")
    assert [(r["operation"], r["db_system"], r["collection"], r["returned_rows"]) for r in retrievals] == [
        ("add_documents", "inmemory", None, 4),
        ("add_documents", "chroma", "advisories", 3),
        ("retrieval", "inmemory", None, 2),
        ("retrieval", "chroma", "advisories", 1),
        ("retrieval", "inmemory", None, 2),
        ("retrieval", "chroma", "advisories", 1),
    ]
    s = summary(tmp_path / "store.sqlite3")
    assert [(r.operation, r.store, r.collection, r.calls, r.rows) for r in s.by_retrieval] == [
        ("retrieval", "chroma", "advisories", 2, 2),
        ("retrieval", "inmemory", None, 2, 4),
        ("add_documents", "chroma", "advisories", 1, 3),
        ("add_documents", "inmemory", None, 1, 4),
    ]
    assert [(r.name, r.retrievals, r.model_calls) for r in s.recent_runs] == [("trip-notes", 2, 1)] * 2
