"""pgvector through ``psycopg`` (3): a ``SELECT`` that orders by a pgvector distance operator (``<->`` L2,
``<=>`` cosine, ``<#>`` inner product, ``<+>`` L1) is a retrieval.

``Cursor.execute`` and ``AsyncCursor.execute`` are wrapped (``Connection.execute`` runs through them); every other
statement passes through after one substring test and gets no span from us (the OpenTelemetry psycopg
instrumentation traces SQL as such). ``db.system.name`` is ``postgresql``; ``db.collection.name`` is the table after
``FROM``; ``gen_ai.request.top_k`` the ``LIMIT`` (a literal, or the parameter it names); ``db.response.returned_rows``
the cursor's ``rowcount`` after the statement ran (the rows are not read, so the caller's fetches are untouched and
no document ids are captured); ``server.address``/``server.port`` the connection's host and port (none for a Unix
socket). Writes (``INSERT ... vector``) are plain SQL and get no span of ours.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._retrieval_layer import async_wrapper, sync_wrapper
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.retrieval import RetrievalRecord

_ORDER_BY_DISTANCE = re.compile(r"\border\s+by\b[^;]*?(<->|<=>|<#>|<\+>)", re.IGNORECASE | re.DOTALL)
_FROM = re.compile(r'\bfrom\s+((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)', re.IGNORECASE)
_LIMIT = re.compile(r"\blimit\s+(\d+|%s|%\((\w+)\)s|\$(\d+))", re.IGNORECASE)


def _text(query: Any, cursor: Any) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)  # psycopg.sql.Composed / SQL
    return as_string(cursor) if callable(as_string) else None


def _limit(match: re.Match[str], query: str, params: Any) -> int | None:
    literal, name, dollar = match.group(1), match.group(2), match.group(3)
    if literal.isdigit():
        return int(literal)
    value: Any = None
    if name is not None and isinstance(params, dict):
        value = params.get(name)
    elif isinstance(params, (list, tuple)):
        # $n names its parameter; a %s is the n-th: count the placeholders before LIMIT's
        index = int(dollar) - 1 if dollar is not None else query[: match.start(1)].count("%s")
        value = params[index] if 0 <= index < len(params) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _describe(cursor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RetrievalRecord | None:
    query = kwargs.get("query", args[0] if args else None)
    if isinstance(query, str) and "<" not in query:
        return None  # the common case, decided without a regex
    text = _text(query, cursor)
    if text is None or _ORDER_BY_DISTANCE.search(text) is None:
        return None
    table = _FROM.search(text)
    record = RetrievalRecord(sc.OP_RETRIEVAL, sc.DB_POSTGRESQL, table.group(1).replace('"', "") if table else None,
                             "SELECT")  # fmt: skip
    limit = _LIMIT.search(text)
    if limit is not None:
        record.top_k = _limit(limit, text, kwargs.get("params", args[1] if len(args) > 1 else None))
    info = getattr(getattr(cursor, "connection", None), "info", None)
    host = getattr(info, "host", None)
    if isinstance(host, str) and host and not host.startswith("/"):
        record.server_address = host
        port = getattr(info, "port", None)
        record.server_port = port if isinstance(port, int) else None
    return record


def _rowcount(record: RetrievalRecord, result: Any, capture: bool) -> None:
    rows = getattr(result, "rowcount", -1)  # execute returns the cursor; -1: unknown
    if isinstance(rows, int) and rows >= 0:
        record.returned_rows = rows


class PgvectorInstrumentor(AgentMetricsInstrumentor):
    """Instruments pgvector similarity searches run through ``psycopg`` (3) cursors, sync and async."""

    dependencies: Collection[str] = ("psycopg >= 3.1",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "psycopg.cursor", "Cursor.execute", sync_wrapper(telemetry, _describe, _rowcount)
        yield "psycopg.cursor_async", "AsyncCursor.execute", async_wrapper(telemetry, _describe, _rowcount)
