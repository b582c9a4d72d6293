"""The wheel carries every module (the instrumentors/ mapping included) and the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_every_module_and_entry_point(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("otel_agentmetrics-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"otel_agentmetrics/{p.relative_to(ROOT / 'otel_agentmetrics').as_posix()}"
        for p in (ROOT / "otel_agentmetrics").rglob("*.py")
    }
    expected |= {
        f"otel_agentmetrics/instrumentors/{p.relative_to(ROOT / 'instrumentors').as_posix()}"
        for p in (ROOT / "instrumentors").rglob("*.py")
    }
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel (add the package to pyproject's packages list): {missing}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "agentmetrics_openai = otel_agentmetrics.instrumentors.openai:OpenAIInstrumentor" in text
    assert "agentmetrics = otel_agentmetrics.distro:AgentMetricsDistro" in text
    assert "agentmetrics = otel_agentmetrics.distro:configure_if_unset" in text
    assert "opentelemetry_configurator" not in text  # one configurator runs; ours would race the SDK's
    assert "agentmetrics = otel_agentmetrics.cli:main" in text
