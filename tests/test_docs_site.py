"""The documentation site builds with ``mkdocs build --strict``: a broken link, a missing page in the nav or an
API-reference entry that no longer resolves fails the tests, not the next release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("material", reason="mkdocs-material comes with the [dev] extra")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] comes with the [dev] extra")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    # The reference is generated from the docstrings, signatures included.
    assert 'id="otel_agentmetrics.instrument"' in reference
    assert "Record an agent run" in reference and "conversation_id" in reference
    # The docstrings' Sphinx roles are rendered as links (or plain code), never literally (mkdocs_crossrefs.py).
    for role in (":func:", ":class:", ":meth:", ":data:", ":mod:", ":attr:"):
        assert role not in reference, role
    assert 'href="#otel_agentmetrics.budgets.BudgetExceeded"><code>BudgetExceeded</code>' in reference.replace(
        'class="autorefs autorefs-internal" ', ""
    )
    for page in ("getting-started", "examples", "troubleshooting", "providers/anthropic"):
        assert (tmp_path / "site" / page / "index.html").exists(), page
    # The examples page shows the files of examples/ themselves, included at build time.
    examples = (tmp_path / "site" / "examples" / "index.html").read_text()
    assert "--8&lt;--" not in examples and "set_tracing_disabled" in examples and "FastAPIInstrumentor" in examples
