"""Every fenced ```python and ```bash block in README.md and docs/ runs, so a snippet cannot rot.

Each block runs in a fresh process and a temporary directory, with the user's environment as the docs assume it:
``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` point at the stand-in server (so model calls work offline) and
``AGENTMETRICS_STORE`` at a copy of a store the demo filled (so ``agentmetrics report`` has something to show).
A Python block may use top-level ``await``, as in ``python -m asyncio``. A block that cannot run offline as it
stands (it installs packages, starts a server that runs until stopped, needs a backend) is preceded by the line
``<!-- snippet: skip (reason) -->``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_agentmetrics.demo.server import StandInServer

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = ("python", "bash")
SKIP = re.compile(r"^<!-- snippet: skip \((?P<reason>[^)]+)\) -->$")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
TIMEOUT_S = 60

# Runs a Python snippet the way `python -m asyncio` would: top-level `await` is allowed.
_PYTHON_RUNNER = """
import ast, asyncio, sys
source = open(sys.argv[1], encoding="utf-8").read()
code = compile(source, sys.argv[1], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__", "__file__": sys.argv[1]})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None  # the reason given in the skip marker

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> Iterator[Snippet]:
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        indent = len(fence["indent"])
        code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.match(before)
        if fence["lang"] in LANGUAGES:
            yield Snippet(page, i + 1, fence["lang"], code, marker["reason"] if marker else None)
        i = end + 1


ALL = [s for page in PAGES for s in snippets(page)]


def test_the_pages_have_snippets_and_every_skip_marker_sits_on_one() -> None:
    assert len(ALL) >= 20 and sum(1 for s in ALL if s.skip is None) >= 15
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if "snippet: skip" not in line:
                continue
            assert SKIP.match(line.strip()), f"{page.relative_to(ROOT)}:{number}: write <!-- snippet: skip (reason) -->"
            following = next((x for x in lines[number:] if x.strip()), "")
            assert FENCE.match(following), f"{page.relative_to(ROOT)}:{number}: the marker must precede a code block"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandInServer]:
    with StandInServer(latency=(0.0, 0.0), chunk_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with something in it: what `agentmetrics demo` records."""
    home = tmp_path_factory.mktemp("demo")
    store = home / "demo.sqlite3"
    env = _clean_env(home)
    command = [sys.executable, "-c", "import sys; from otel_agentmetrics.cli import main; sys.exit(main())"]
    result = subprocess.run(
        [*command, "demo", "--runs", "1", "--latency", "0", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return store


def _clean_env(home: Path) -> dict[str, str]:
    private = ("OTEL_", "AGENTMETRICS_", "OPENAI_", "ANTHROPIC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(private)}
    # The venv's scripts (agentmetrics, opentelemetry-instrument) first, as in an activated venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "PYTHONUNBUFFERED": "1"})
    return env


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_snippet_runs(snippet: Snippet, stand_in: StandInServer, filled_store: Path, tmp_path: Path) -> None:
    if snippet.skip is not None:
        pytest.skip(snippet.skip)
    store = tmp_path / "store.sqlite3"
    shutil.copy(filled_store, store)
    env = _clean_env(tmp_path)
    env.update(
        {
            "AGENTMETRICS_STORE": str(store),
            "OPENAI_BASE_URL": stand_in.openai_url,
            "OPENAI_API_KEY": "sk-stand-in",
            "ANTHROPIC_BASE_URL": stand_in.anthropic_url,
            "ANTHROPIC_API_KEY": "sk-ant-stand-in",
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
        }
    )
    if snippet.lang == "python":
        (tmp_path / "snippet.py").write_text(snippet.code, encoding="utf-8")
        command = [sys.executable, "-c", _PYTHON_RUNNER, "snippet.py"]
    else:
        (tmp_path / "snippet.sh").write_text(snippet.code, encoding="utf-8")
        command = ["bash", "-e", "-o", "pipefail", "snippet.sh"]
    # Its own process group, so that a server a snippet starts in the background is stopped with it.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        output = None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if output is None:
        pytest.fail(f"{snippet.id} ran over {TIMEOUT_S}s; if it serves until stopped, mark it skipped")
    assert process.returncode == 0, f"{snippet.id} failed:\n{snippet.code}\n--- output ---\n{output}"
