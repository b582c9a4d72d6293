"""The Agno, smolagents, Strands Agents and Google ADK programs in examples/, run as a user would run them, each
starting its own stand-in server (no ``OPENAI_API_KEY``). What they record is read back from the store: one agent
run above its model and tool calls, with tokens and dollars at the published gpt-4o-mini prices. Strands and ADK
run where they are installed (``tests/strands-env.sh``, ``tests/adk-env.sh``) and skip elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .examples_kit import EXAMPLES
from .test_examples_frameworks import ANSWER, _check_one_agent_run, _needs


def _run(name: str, tmp_path: Path, **env: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AGENTMETRICS_STORE": str(tmp_path / "store.sqlite3"),
        "OTEL_SERVICE_NAME": name.removesuffix(".py"),
        **env,
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@_needs("agno")
def test_agno_agent(tmp_path: Path) -> None:
    assert _run("agno_agent.py", tmp_path, AGNO_TELEMETRY="false") == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])


@_needs("smolagents")
def test_smolagents_agent(tmp_path: Path) -> None:
    assert _run("smolagents_agent.py", tmp_path) == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])


@_needs("strands")
def test_strands_agent(tmp_path: Path) -> None:
    assert _run("strands_agent.py", tmp_path) == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])
