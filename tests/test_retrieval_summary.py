"""Retrieval in the local summary view: real store operations (Chroma, a LangChain retriever) inside an agent
run, recorded through the store exporter, then the summary's Retrieval table, the run's count, the run page's
tree, the exports, and an older store without the retrieval columns."""

from __future__ import annotations

import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agentmetrics import agent
from otel_agentmetrics.instrumentors.retrieval.chromadb import ChromaInstrumentor
from otel_agentmetrics.instrumentors.retrieval.langchain import LangChainRetrievalInstrumentor
from otel_agentmetrics.summary import run_detail, summary
from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter
from otel_agentmetrics.summary.render import tables, to_csv, to_prometheus
from otel_agentmetrics.summary.run_page import run_page

from .retrieval_kit import DIM, axis, instrumented, near
from .test_retrieval_langchain import HashEmbeddings

chromadb = pytest.importorskip("chromadb")


@pytest.fixture
def recorded(otel: Any, tmp_path: Path) -> tuple[Path, str, Any]:
    """An agent run with two Chroma queries (one failing), a LangChain retriever call and a write, stored."""
    path = tmp_path / "store.sqlite3"
    exporter = LocalStoreSpanExporter(path)
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = f"docs-{uuid.uuid4().hex[:6]}"
    collection = chromadb.EphemeralClient().get_or_create_collection(name, embedding_function=None)
    store = InMemoryVectorStore(HashEmbeddings())
    store.add_documents([Document(page_content=t, id=t) for t in ("a", "b", "c")])
    with instrumented(otel, ChromaInstrumentor(), LangChainRetrievalInstrumentor()), agent("researcher"):
        collection.add(ids=[f"d{i}" for i in range(DIM)], embeddings=[axis(i) for i in range(DIM)])
        collection.query(query_embeddings=[near(0)], n_results=3)
        collection.query(query_embeddings=[near(1)], n_results=5)
        with pytest.raises(Exception):  # noqa: B017 - whatever Chroma raises for a wrong dimension
            collection.query(query_embeddings=[[1.0]], n_results=1)
        store.as_retriever(search_kwargs={"k": 2}).invoke("b")
    exporter.shutdown()
    return path, name, otel


def test_summary_has_a_retrieval_table_and_runs_count_retrievals(recorded: tuple[Path, str, Any]) -> None:
    path, name, otel = recorded
    s = summary(path)
    assert s.overall.calls == 0  # store operations are not model calls
    rows = [(r.operation, r.store, r.collection, r.calls, r.failed, r.rows) for r in s.by_retrieval]
    assert rows == [
        ("retrieval", "chroma", name, 3, 1, 8),
        ("retrieval", "inmemory", None, 1, 0, 2),
        ("add_documents", "chroma", name, 1, 0, DIM),
    ]
    spans = [x for x in otel.finished() if x.attributes.get("db.collection.name") == name]
    queries = sorted(
        (x.end_time - x.start_time) / 1e9 for x in spans if x.attributes["gen_ai.operation.name"] == "retrieval"
    )
    assert s.by_retrieval[0].p50_s == pytest.approx(queries[1], abs=1e-6)
    (run,) = s.recent_runs
    assert (run.name, run.retrievals, run.model_calls) == ("researcher", 4, 0)
    (error,) = s.recent_errors
    assert (error.kind, error.name) == ("retrieval", f"chroma {name}")

    (table,) = [t for t in tables(s) if t.key == "by_retrieval"]
    assert table.headers == ["operation", "store", "collection", "calls", "failed", "errors", "avg", "p50", "p95",
                             "rows"]  # fmt: skip
    assert table.rows[0][:6] == ["retrieval", "chroma", name, "3", "1", "33.3%"]
    assert table.rows[0][-1] == "8"
    assert f"retrieval,retrieval chroma {name},3,2,1," in to_csv(s)
    assert (
        f'agentmetrics_retrievals_total{{operation="retrieval",store="chroma",collection="{name}",outcome="error"}} 1'
        in to_prometheus(s)
    )
    assert s.to_dict()["by_retrieval"][1]["store"] == "inmemory"


def test_run_page_shows_retrieval_steps_in_the_tree(recorded: tuple[Path, str, Any]) -> None:
    path, name, _ = recorded
    (run,) = summary(path).recent_runs
    detail = run_detail(path, run.trace_id)
    assert [s["kind"] for s in detail["spans"]] == ["agent"] + ["retrieval"] * 5
    assert detail["retrievals"] == 4
    page = run_page(detail, {})
    assert f"retrieval chroma {name}</td>" in page
    assert f"add_documents chroma {name}</td>" in page
    assert "3 rows" in page and "5 rows" in page
    assert "4 retrievals" in page
    assert page.count('<tr class="step retrieval') == 5


def test_an_older_store_without_the_retrieval_columns_still_reads(tmp_path: Path) -> None:
    from otel_agentmetrics.summary import store

    path = tmp_path / "old.sqlite3"
    conn = store.connect(path)
    for column in ("db_system", "collection", "returned_rows"):
        conn.execute(f"ALTER TABLE spans DROP COLUMN {column}")
    conn.execute(
        "INSERT INTO spans (trace_id, span_id, kind, name, start_ns, end_ns, duration_s, ok, operation) "
        "VALUES ('t', 's', 'model', 'chat m', 1, 2, 1e-9, 1, 'chat')"
    )
    conn.close()
    assert summary(path).by_retrieval == []  # read as it is: the columns are NULL
    store.connect(path).close()  # a writer opening it adds them
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(spans)")}
    assert {"db_system", "collection", "returned_rows"} <= columns


def test_a_browser_shows_the_retrieval_table(tmp_path: Path) -> None:
    import subprocess
    import time

    from opentelemetry.trace import SpanKind

    from otel_agentmetrics.summary import make_server

    from . import summary_kit
    from .test_dashboard import _FLAGS, _chromium

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (tests/system-deps.sh installs it)")
    path = tmp_path / "spans.sqlite3"
    m = summary_kit.SpanMaker(path)
    ago = lambda seconds: seconds - (time.time() - summary_kit.NOW)  # noqa: E731 - seconds back from the real clock
    attrs = {"gen_ai.operation.name": "retrieval", "db.system.name": "qdrant", "db.collection.name": "notes"}
    with m.agent("researcher", at=ago(60), duration=2):
        m._span("retrieval notes", SpanKind.CLIENT, {**attrs, "db.response.returned_rows": 5}, ago(59), 0.012, None)
        m._span("retrieval notes", SpanKind.CLIENT, attrs, ago(58), 0.3, ("TimeoutError", "store timed out"))
    m.close()
    srv = make_server("127.0.0.1", 0, path, refresh_s=0)
    srv.start_in_thread()
    try:
        dom = subprocess.run(
            [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", srv.url + "?since=1h"],
            capture_output=True,
            text=True,
            timeout=90,
        ).stdout.split("<script>")[0]
    finally:
        srv.shutdown()
        srv.server_close()
    assert '<section id="retrieval"><h2>Retrieval</h2>' in dom
    row = dom.split('<section id="retrieval">')[1].split("</tbody>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[:6] == ["retrieval", "qdrant", "notes", "2", '<span class="fail">1</span>', "50.0%"]
    assert cells[-1] == "5"
