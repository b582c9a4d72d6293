"""The oldest ``openai`` we claim (1.40.0, the ``httpx`` generation), tested inside the normal test command.

``pip install --no-deps --target`` puts that release in a temporary directory once per session (its other
requirements, httpx/pydantic/anyio/jiter..., are the ones already installed), and the OpenAI tests that exist for
it (everything but the Responses API, which came later) run again in a subprocess with that directory first on
``sys.path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

OLDEST = "1.40.0"
# Not AGENTMETRICS_*: conftest clears those. The version check below is a second guard against recursion.
_INNER = "OPENAI_OLDEST_UNDER_TEST"
_inner = os.environ.get(_INNER) == OLDEST or openai.__version__ == OLDEST
ROOT = Path(__file__).resolve().parent.parent
SUBSET = [
    "tests/test_openai_cassettes.py",
    "tests/test_openai_stream_contract.py",
    "tests/test_openai_features.py",
    "tests/test_openai_providers.py",
    "tests/test_openai_hot_path.py",
    "tests/test_openai_oldest.py",
]


@pytest.mark.skipif(_inner, reason="already running under the oldest openai")
def test_openai_suite_on_oldest_supported_release(tmp_path_factory):
    target = tmp_path_factory.mktemp(f"openai-{OLDEST}")
    install = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*install, "--target", str(target), f"openai=={OLDEST}"], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]), _INNER: OLDEST}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET, "-k", "not responses"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


@pytest.mark.skipif(not _inner, reason="runs only inside the oldest-openai subprocess")
def test_running_against_the_oldest_release():
    assert openai.__version__ == OLDEST
    assert not hasattr(openai.OpenAI, "responses")
