"""The Anthropic tests again, against an older ``anthropic`` release that has no native tracing.

anthropic 0.75 predates the SDK's own OpenTelemetry span (``anthropic/_tracing.py``), still has the legacy Text
Completions API, uses ``httpx`` rather than ``httpx2``, and its ``Stream`` metaclass accepts only exact instances
in ``isinstance``. It is installed once per test session into a private directory (``pip install --target``,
no dependencies: the ones it needs are ours already) and the Anthropic test modules run in a subprocess with it
first on ``sys.path``. The native-tracing module skips itself there; everything else must pass unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OLD = "0.75.0"
ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "tests/test_anthropic_messages.py",
    "tests/test_anthropic_streams.py",
    "tests/test_anthropic_wire.py",
    "tests/test_anthropic_native_tracing.py",
    "tests/test_anthropic_stream_contract.py",
    "tests/test_anthropic_stream_batches.py",
    "tests/test_anthropic_bedrock_replay.py",
]


@pytest.fixture(scope="session")
def old_anthropic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("anthropic-old")
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
    result = subprocess.run(
        [*command, "--target", str(target), f"anthropic=={OLD}"], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        pytest.skip(f"the package registry refused anthropic=={OLD}: {result.stderr.strip()[-400:]}")
    return target


def _env(target: Path) -> dict[str, str]:
    path = [str(target), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def test_anthropic_tests_pass_on_a_release_without_native_tracing(old_anthropic: Path) -> None:
    env = _env(old_anthropic)
    probe = subprocess.run(
        [sys.executable, "-c", "import anthropic, anthropic._base_client as b; print(anthropic.__version__, "
         "hasattr(b, 'start_api_call_span'), anthropic.__file__)"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    version, native, location = probe.stdout.split()
    assert (version, native) == (OLD, "False"), probe.stderr
    assert location.startswith(str(old_anthropic))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
        + MODULES,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    output = result.stdout[-6000:]
    assert result.returncode == 0, output + result.stderr[-2000:]
    assert " failed" not in output
    # What only this release exercises (legacy completions) ran: only what it lacks was skipped.
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    lacks = ("no native tracing", "no messages.parse", "no threads")
    assert skipped and all(any(reason in line for reason in lacks) for line in skipped), skipped
