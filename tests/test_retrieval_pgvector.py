"""pgvector through the real ``psycopg`` against a real PostgreSQL server this module starts (initdb/pg_ctl in a
temp dir, on a free loopback port, as the ``postgres`` user when run as root): one ``retrieval`` span per
similarity search, other SQL untouched, results identical with and without instrumentation.

With the pgvector extension installed (``CREATE EXTENSION vector`` works) the table has a ``vector`` column. Debian
bookworm ships no pgvector package; there the test defines ``<->`` and ``<#>`` in SQL over ``float8[]`` (the same
operators, the same ``ORDER BY ... LIMIT`` statements, run by the same server), so the instrumentation, which only
reads the statement and the cursor, is tested either way; the run says which in its output."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from otel_agentmetrics.instrumentors.retrieval.pgvector import PgvectorInstrumentor

from .retrieval_kit import DIM, axis, duration_points, instrumented, near, retrieval_spans, row_points

psycopg = pytest.importorskip("psycopg")

_STAND_IN = """
CREATE FUNCTION l2(a float8[], b float8[]) RETURNS float8 IMMUTABLE LANGUAGE sql
  AS 'SELECT sqrt(sum((x - y) ^ 2)) FROM unnest(a, b) AS t(x, y)';
CREATE FUNCTION negative_ip(a float8[], b float8[]) RETURNS float8 IMMUTABLE LANGUAGE sql
  AS 'SELECT -sum(x * y) FROM unnest(a, b) AS t(x, y)';
CREATE OPERATOR <-> (LEFTARG = float8[], RIGHTARG = float8[], FUNCTION = l2);
CREATE OPERATOR <#> (LEFTARG = float8[], RIGHTARG = float8[], FUNCTION = negative_ip);
"""


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (initdb/pg_ctl; tests/system-deps.sh installs Debian's postgresql)")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="agentmetrics-pg-")
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            shutil.chown(root, "postgres")
        except (LookupError, PermissionError) as error:
            pytest.skip(f"running as root and no usable postgres user: {error}")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*as_user, pg_ctl, "-D", data, "-o", options, "-l", os.path.join(root, "log"), "-w", "start"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    except (subprocess.SubprocessError, OSError) as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {error}")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def vector_type(dsn: str) -> str:
    """``vector`` with pgvector, else ``float8[]`` with the SQL stand-in operators; and the table of 8 axes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            kind = "vector"
        except psycopg.Error:
            conn.execute(_STAND_IN)
            kind = "float8[]"
        print(f"pgvector test: column type {kind}")
        conn.execute(f"CREATE TABLE docs (id int PRIMARY KEY, embedding {kind}, body text)")
        for i in range(DIM):
            conn.execute("INSERT INTO docs VALUES (%s, %s::" + kind + ", %s)", (i, _literal(axis(i), kind), f"d{i}"))
    return kind


def _literal(vector: list[float], kind: str) -> str:
    body = ",".join(repr(v) for v in vector)
    return f"[{body}]" if kind == "vector" else f"{{{body}}}"


def _search(conn: Any, kind: str, vector: list[float], k: int) -> list[tuple[Any, ...]]:
    cursor = conn.execute(
        f"SELECT id, body FROM docs ORDER BY embedding <#> %s::{kind} LIMIT %s", (_literal(vector, kind), k)
    )
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def test_similarity_search_is_one_retrieval_span_and_other_sql_none(otel: Any, dsn: str, vector_type: str) -> None:
    with psycopg.connect(dsn) as conn:
        expected = _search(conn, vector_type, near(2), 3)
    with instrumented(otel, PgvectorInstrumentor()), psycopg.connect(dsn) as conn:
        result = _search(conn, vector_type, near(2), 3)
        count = conn.execute("SELECT count(*) FROM docs WHERE id < %s", (5,)).fetchone()
    assert result == expected == [(2, "d2"), (3, "d3"), (4, "d4")]
    assert count == (5,)

    (span,) = otel.finished()  # the count(*) is plain SQL: no span of ours
    assert span.name == "retrieval docs"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "retrieval",
        "db.system.name": "postgresql",
        "db.collection.name": "docs",
        "db.operation.name": "SELECT",
        "gen_ai.request.top_k": 3,
        "db.response.returned_rows": 3,
        "server.address": "127.0.0.1",
        "server.port": int(dsn.split("port=")[1].split()[0]),
    }
    (point,) = duration_points(otel)
    assert point.count == 1
    assert point.attributes["db.system.name"] == "postgresql"
    assert point.attributes["db.collection.name"] == "docs"
    (rows,) = row_points(otel)
    assert (rows.count, rows.sum) == (1, 3)


def test_literal_limit_named_params_and_a_missing_table(otel: Any, dsn: str, vector_type: str) -> None:
    literal = _literal(near(5), vector_type)
    with instrumented(otel, PgvectorInstrumentor()), psycopg.connect(dsn, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT id FROM docs ORDER BY embedding <-> %(q)s::{vector_type} LIMIT 2", {"q": literal})
            assert cursor.fetchall() == [(5,), (6,)]
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute(f"SELECT id FROM nowhere ORDER BY embedding <-> %(q)s::{vector_type} LIMIT %(k)s",
                         {"q": literal, "k": 4})  # fmt: skip
    ok, failed = retrieval_spans(otel)
    assert (ok.attributes["gen_ai.request.top_k"], ok.attributes["db.response.returned_rows"]) == (2, 2)
    assert failed.attributes["db.collection.name"] == "nowhere"
    assert failed.attributes["gen_ai.request.top_k"] == 4
    assert failed.attributes["error.type"] == "UndefinedTable"
    assert "db.response.returned_rows" not in failed.attributes


async def test_async_cursor(otel: Any, dsn: str, vector_type: str) -> None:
    with instrumented(otel, PgvectorInstrumentor()):
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            cursor = await conn.execute(
                f"SELECT id FROM docs ORDER BY embedding <#> %s::{vector_type} LIMIT %s",
                (_literal(near(6), vector_type), 2),
            )
            assert await cursor.fetchall() == [(6,), (7,)]
    (span,) = retrieval_spans(otel)
    assert span.attributes["db.response.returned_rows"] == 2
    assert span.attributes["gen_ai.request.top_k"] == 2
    (point,) = duration_points(otel)
    assert point.count == 1
