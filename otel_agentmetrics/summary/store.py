"""The local store: one SQLite file that every instrumented process on the host appends to.

SQLite in WAL mode lets readers (the report, the dashboard) run while writers append, and a busy timeout plus
a few retries lets several processes write at once without losing rows. Each span is one row keyed by
``(trace_id, span_id)``, so a retried batch never counts twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_RETENTION = 30 * 86400.0
"""Rows older than this (seconds) are deleted by writers: 30 days."""

_FILE_NAME = "spans.sqlite3"
SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 5000


def default_store_path() -> Path:
    """``AGENTMETRICS_STORE`` if set, else a per-user data directory, so ``agentmetrics report`` finds the data
    from any working directory: ``$XDG_DATA_HOME/otel-agentmetrics`` (``~/.local/share/...``) on Linux,
    ``~/Library/Application Support/otel-agentmetrics`` on macOS, ``%LOCALAPPDATA%\\otel-agentmetrics`` on Windows.
    """
    configured = os.environ.get("AGENTMETRICS_STORE")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "otel-agentmetrics" / _FILE_NAME


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path else default_store_path()


@dataclass(slots=True)
class SpanRow:
    """One stored span: a model call, a tool run, an agent run, or a web request (for per-endpoint stats)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str  # "model" | "tool" | "agent" | "request" | "retrieval"
    name: str
    start_ns: int
    end_ns: int
    duration_s: float
    ok: int
    error_type: str | None = None
    error_message: str | None = None
    operation: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    tool_name: str | None = None
    agent_name: str | None = None
    route: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None
    stream: int = 0
    time_to_first_chunk: float | None = None
    service: str | None = None
    db_system: str | None = None
    """Retrieval rows (kind ``retrieval``): the store (``db.system.name``), collection and rows returned."""
    collection: str | None = None
    returned_rows: int | None = None
    processing: str | None = None  # "batch" for a batch API's results (agentmetrics.processing)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SpanRow))
_TYPES = {
    "start_ns": "INTEGER NOT NULL",
    "end_ns": "INTEGER NOT NULL",
    "duration_s": "REAL NOT NULL",
    "ok": "INTEGER NOT NULL",
    "stream": "INTEGER NOT NULL DEFAULT 0",
    "cost": "REAL",
    "time_to_first_chunk": "REAL",
}
_INT_COLUMNS = {
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "returned_rows",
}

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS spans (
    {", ".join(f"{c} {_TYPES.get(c, 'INTEGER' if c in _INT_COLUMNS else 'TEXT')}" for c in COLUMNS)},
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_by_time ON spans (kind, end_ns);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_id, kind);
CREATE TABLE IF NOT EXISTS writers (
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    service TEXT,
    started_ns INTEGER NOT NULL,
    seen_ns INTEGER NOT NULL,
    active_calls INTEGER NOT NULL DEFAULT 0,
    dropped_spans INTEGER NOT NULL DEFAULT 0,
    stopped_ns INTEGER,
    memory_bytes INTEGER,
    cpu_seconds REAL,
    export_dropped TEXT,
    PRIMARY KEY (host, pid, started_ns)
);
"""

_ADDED_WRITER_COLUMNS = {
    "stopped_ns": "INTEGER",
    "memory_bytes": "INTEGER",
    "cpu_seconds": "REAL",
    "export_dropped": "TEXT",
}
"""Columns later than the first release of the file: added to stores created before them."""
_ADDED_SPAN_COLUMNS = {"db_system": "TEXT", "collection": "TEXT", "returned_rows": "INTEGER", "processing": "TEXT"}
"""Span columns added with retrieval: added to stores created before them (readers of an older store that no
writer has opened since see them as ``NULL``, see :func:`span_columns`)."""

_INSERT = f"INSERT OR IGNORE INTO spans ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class StoreMissing(FileNotFoundError):
    """Nothing has been recorded at that path yet (the CLI exits 3 for it)."""


class StoreUnreadable(OSError):
    """The file at the store's path is not a SQLite database, or a damaged one, or cannot be opened: said with the
    path and what to do, where a reader would otherwise fail with SQLite's bare message (the CLI exits 2 for it,
    the dashboard answers 500 with the message)."""


_UNREADABLE = ("SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_CANTOPEN")
"""SQLite's errors (and their extended codes) that say the file itself cannot be read, as opposed to a lock."""


def connect(
    path: str | os.PathLike[str] | None = None, *, create: bool = True, busy_timeout_s: float = _BUSY_TIMEOUT_MS / 1000
) -> sqlite3.Connection:
    """Open the store (creating the file and schema when ``create``), in WAL mode with a busy timeout."""
    target = resolve_path(path)
    if create:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        raise StoreMissing(f"no agentmetrics store at {target}; run an instrumented program first")
    conn = sqlite3.connect(target, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    if create:
        with_retries(lambda: _init(conn))
    return conn


def _init(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(writers)")}
    for column, kind in _ADDED_WRITER_COLUMNS.items():
        if column not in present:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                conn.execute(f"ALTER TABLE writers ADD COLUMN {column} {kind}")
    present = {row[1] for row in conn.execute("PRAGMA table_info(spans)")}
    for column, kind in _ADDED_SPAN_COLUMNS.items():
        if column not in present:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                conn.execute(f"ALTER TABLE spans ADD COLUMN {column} {kind}")
    if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # for migrations by later releases


@contextlib.contextmanager
def reading(path: str | os.PathLike[str] | None = None) -> Iterator[sqlite3.Connection]:
    """A connection for reading the store (the report, the dashboard), closed after the block.

    No file: :class:`StoreMissing`. A file whose tables are not there yet (a writer has just created it and not
    yet its schema, or it is empty) reads as an empty store: empty stand-ins for the missing tables are made in
    this connection's private ``temp`` schema, so the file is not written to. A file SQLite cannot read as a
    database: :class:`StoreUnreadable`."""
    conn = None
    try:
        conn = connect(path, create=False)
        present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in ("spans", "writers"):
            if table not in present:
                conn.execute(_TEMP_TABLES[table])
        yield conn
    except sqlite3.DatabaseError as error:  # also what the caller's queries raise on a damaged page
        if _is_unreadable(error):
            raise _unreadable(resolve_path(path), error) from error
        raise
    finally:
        if conn is not None:
            conn.close()


def _is_unreadable(error: sqlite3.DatabaseError) -> bool:
    name = getattr(error, "sqlite_errorname", "") or ""
    return name.startswith(_UNREADABLE)


def _unreadable(target: Path, error: sqlite3.DatabaseError) -> StoreUnreadable:
    return StoreUnreadable(
        f"the agentmetrics store at {target} cannot be read ({error}); move the file aside (instrumented programs "
        "then start a new store) or point --store / AGENTMETRICS_STORE at another file"
    )


def _temp_table(name: str) -> str:
    """``CREATE TEMP TABLE`` of one of the schema's tables: a stand-in, in one connection, while it is absent."""
    prefix = f"CREATE TABLE IF NOT EXISTS {name} ("
    (statement,) = (part.strip() for part in SCHEMA.split(";") if part.strip().startswith(prefix))
    return statement.replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE", 1)


_TEMP_TABLES = {name: _temp_table(name) for name in ("spans", "writers")}


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def span_columns(conn: sqlite3.Connection, wanted: str) -> str:
    """``wanted`` (a comma-separated column list) for a SELECT on ``spans``, with the columns an older store
    lacks read as ``NULL``."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(spans)")}
    if not present:  # no table yet (a writer is creating the file): the query fails as it would have anyway
        return wanted
    names = [name.strip() for name in wanted.split(",")]
    return ", ".join(name if name in present else f"NULL AS {name}" for name in names)


def is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def with_retries(action: Any, attempts: int = 4) -> Any:
    """Run ``action`` again when another process holds the lock past the busy timeout."""
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as error:
            if not is_busy(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    return None


def insert(conn: sqlite3.Connection, rows: Sequence[SpanRow]) -> None:
    """Append rows in one transaction (all or nothing, so a retry cannot half-write a batch)."""
    values = [tuple(getattr(row, c) for c in COLUMNS) for row in rows]

    def write() -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, values)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    with_retries(write)


UNSTORABLE = (OverflowError, ValueError, TypeError, sqlite3.InterfaceError)
"""What a row SQLite cannot bind raises (a whole number past 64 bits, say): that row's fault, not the store's."""


def insert_each(conn: sqlite3.Connection, rows: Sequence[SpanRow]) -> int:
    """Append rows one transaction each, skipping those SQLite cannot take; returns how many were skipped."""
    skipped = 0
    for row in rows:
        try:
            insert(conn, [row])
        except UNSTORABLE:
            skipped += 1
    return skipped


def record_writer(
    conn: sqlite3.Connection,
    host: str,
    pid: int,
    service: str | None,
    started_ns: int,
    active: int,
    dropped: int,
    memory_bytes: int | None = None,
    cpu_seconds: float | None = None,
    *,
    stopped: bool = False,
    export_dropped: dict[tuple[str, str], int] | None = None,
) -> None:
    """The writing process's heartbeat: uptime, calls in flight, dropped spans, what it could not deliver to other
    destinations (``export_dropped``, by signal and destination) and (with process metrics on) its memory and CPU
    come from here. ``stopped`` is its last one, at shutdown, so uptime ends when the program does; memory and CPU
    keep their last reading then."""
    now = time.time_ns()
    undelivered = encode_export_dropped(export_dropped) if export_dropped else None
    conn.execute(
        "INSERT INTO writers (host, pid, service, started_ns, seen_ns, active_calls, dropped_spans, memory_bytes, "
        "cpu_seconds, stopped_ns, export_dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (host, pid, started_ns) DO UPDATE "
        "SET seen_ns = excluded.seen_ns, active_calls = excluded.active_calls, "
        "dropped_spans = excluded.dropped_spans, service = COALESCE(excluded.service, writers.service), "
        "memory_bytes = COALESCE(excluded.memory_bytes, writers.memory_bytes), "
        "cpu_seconds = COALESCE(excluded.cpu_seconds, writers.cpu_seconds), stopped_ns = excluded.stopped_ns, "
        "export_dropped = COALESCE(excluded.export_dropped, writers.export_dropped)",
        (
            host,
            pid,
            service,
            started_ns,
            now,
            active,
            dropped,
            memory_bytes,
            cpu_seconds,
            now if stopped else None,
            undelivered,
        ),
    )


def encode_export_dropped(counts: dict[tuple[str, str], int]) -> str:
    """``{("traces", "otlp"): 12}`` as the column keeps it: ``{"traces": {"otlp": 12}}``."""
    nested: dict[str, dict[str, int]] = {}
    for (signal, destination), count in sorted(counts.items()):
        nested.setdefault(signal, {})[destination] = count
    return json.dumps(nested, separators=(",", ":"))


def decode_export_dropped(text: str | None) -> dict[str, dict[str, int]]:
    """The column's value read back; a value this release cannot read counts as nothing."""
    try:
        data = json.loads(text) if text else {}
        return {
            str(signal): {str(dest): int(count) for dest, count in by_dest.items()} for signal, by_dest in data.items()
        }
    except (ValueError, TypeError, AttributeError):
        return {}


def purge(conn: sqlite3.Connection, retention_s: float) -> int:
    """Delete rows that ended more than ``retention_s`` seconds ago; returns how many."""
    cutoff = time.time_ns() - int(retention_s * 1e9)
    deleted = conn.execute("DELETE FROM spans WHERE end_ns < ?", (cutoff,)).rowcount
    conn.execute("DELETE FROM writers WHERE seen_ns < ?", (cutoff,))
    return int(deleted)


def clear(conn: sqlite3.Connection, older_than_s: float | None = None) -> int:
    """Delete every row (or those that ended more than ``older_than_s`` ago); returns how many spans went."""
    if older_than_s is not None:
        return purge(conn, older_than_s)
    deleted = conn.execute("DELETE FROM spans").rowcount
    conn.execute("UPDATE writers SET dropped_spans = 0")
    if has_column(conn, "writers", "export_dropped"):
        conn.execute("UPDATE writers SET export_dropped = NULL")
    return int(deleted)
