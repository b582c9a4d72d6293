"""Release-ready packaging: ``python -m build`` makes an sdist and a wheel that ``twine check`` accepts, the wheel
carries every module (the instrumentors/ mapping included), the entry points and the license, and it installs into
a clean venv where it imports and ``agentmetrics --version`` runs.

Offline and bounded: the build uses this environment's setuptools (``--no-isolation``), the wheel is installed with
``--no-deps --no-index``, and the clean venv finds the dependencies in this environment's site-packages through a
.pth file (``--system-site-packages`` would see the base interpreter's, not a virtualenv's).
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from otel_agentmetrics import __version__

ROOT = Path(__file__).resolve().parent.parent
# What the sdist is built from: the tracked sources, not a developer's build/ or egg-info leftovers.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "otel_agentmetrics", "instrumentors")


def _run(*args: str | Path, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, source / name)
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", out, source, cwd=source)
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob(f"otel_agentmetrics-{__version__}-py3-none-any.whl")
    return wheel


def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    files = sorted(dist.iterdir())
    assert [f.name for f in files] == [
        f"otel_agentmetrics-{__version__}-py3-none-any.whl",
        f"otel_agentmetrics-{__version__}.tar.gz",
    ]
    result = _run(sys.executable, "-m", "twine", "check", "--strict", *files)
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_license_travels_with_both(dist: Path) -> None:
    with tarfile.open(dist / f"otel_agentmetrics-{__version__}.tar.gz") as sdist:
        names = sdist.getnames()
    assert f"otel_agentmetrics-{__version__}/LICENSE" in names
    wheel = zipfile.ZipFile(_wheel(dist))
    info = f"otel_agentmetrics-{__version__}.dist-info"
    assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0, January 2004" in (
        ROOT / "LICENSE"
    ).read_text()


def test_wheel_contains_every_module_and_entry_point(dist: Path) -> None:
    wheel = zipfile.ZipFile(_wheel(dist))
    names = set(wheel.namelist())
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
    text = wheel.read(entry_points).decode()
    assert "agentmetrics_openai = otel_agentmetrics.instrumentors.llm.openai:OpenAIInstrumentor" in text
    assert "agentmetrics = otel_agentmetrics.distro:AgentMetricsDistro" in text
    assert "agentmetrics = otel_agentmetrics.distro:configure_if_unset" in text
    assert "opentelemetry_configurator" not in text  # one configurator runs; ours would race the SDK's
    assert "agentmetrics = otel_agentmetrics.cli:main" in text


def test_wheel_installs_into_a_clean_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    # Plain paths, so this environment's own .pth files (an editable install of this package) stay out of it.
    (purelib / "zz-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", _wheel(dist))
    imported = _run(
        python,
        "-c",
        "import otel_agentmetrics, otel_agentmetrics.instrumentors.llm.openai as o; "
        "print(otel_agentmetrics.__file__); print(o.__file__); print(otel_agentmetrics.__version__)",
        cwd=tmp_path,  # not the work tree, whose otel_agentmetrics/ would shadow the installed one
    ).stdout.split()
    assert all(Path(path).is_relative_to(purelib) for path in imported[:2]), imported  # the wheel, not the tree
    assert imported[2] == __version__
    assert _run(venv / "bin" / "agentmetrics", "--version", cwd=tmp_path).stdout == f"agentmetrics {__version__}\n"
