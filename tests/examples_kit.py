"""Run a program from examples/ the way a user would, in its own process, against the stand-in server.

The clients find the stand-in through their documented variables (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``);
the store is a file of the test's own, so what the example recorded can be read back exactly.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from otel_agentmetrics.demo.server import StandInServer

EXAMPLES = Path(__file__).parent.parent / "examples"


def example_env(server: StandInServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell pointed at the stand-in: no OTEL_/AGENTMETRICS_ settings of ours leak in."""
    private = ("OTEL_", "AGENTMETRICS_", "OPENAI_", "ANTHROPIC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(private)}
    env.update(
        {
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "AGENTMETRICS_STORE": str(tmp_path / "store.sqlite3"),
            "OPENAI_BASE_URL": server.openai_url,
            "OPENAI_API_KEY": "sk-stand-in",
            "ANTHROPIC_BASE_URL": server.anthropic_url,
            "ANTHROPIC_API_KEY": "sk-ant-stand-in",
            "OPENAI_AGENTS_DISABLE_TRACING": "1",  # the Agents SDK would upload its own traces to OpenAI
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def run_example(
    name: str, server: StandInServer, tmp_path: Path, *, prefix: tuple[str, ...] = (), **extra: str
) -> subprocess.CompletedProcess[str]:
    command = [*prefix, sys.executable, str(EXAMPLES / name)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=example_env(server, tmp_path, **extra), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def stored_spans(tmp_path: Path, kind: str = "model") -> list[dict[str, Any]]:
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM spans WHERE kind = ? ORDER BY start_ns", (kind,)).fetchall()
    finally:
        conn.close()
    return [dict(row) for row in rows]


def run_bare(name: str, tmp_path: Path, **extra: str) -> str:
    """Run an example that starts its own stand-in, in a bare environment (``PATH``, ``HOME``, the test's store, and
    ``extra``); returns what it printed."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AGENTMETRICS_STORE": str(tmp_path / "store.sqlite3")}
    env.update(extra)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def all_stored_spans(tmp_path: Path) -> list[dict[str, Any]]:
    """Every span in the test's store, of every kind, in start order."""
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM spans ORDER BY start_ns")]
    finally:
        conn.close()
