#!/usr/bin/env bash
# CrewAI tests, in an environment of their own: CrewAI pins openai<3 (and its own pydantic, httpx, rich), while the
# main environment tests openai 3.x. The venv adds CrewAI and its pins on top of the environment that
# runs this script (this package, pytest, OpenTelemetry): a .pth file adds that environment's site-packages after
# the venv's own, so the venv's pins win. (`--system-site-packages` alone would see the machine's packages, not
# those of a venv this script is run from.) Kept outside the work tree, so lint and type checks never see it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${AGENTMETRICS_CREWAI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-agentmetrics/venv-crewai}"
caller_site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ ! -x "$venv/bin/python" ]; then
  base_python="$(python -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
  "$base_python" -m venv --system-site-packages "$venv"
fi
venv_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$caller_site')" >"$venv_site/zz-agentmetrics-caller.pth"
# Installed once per venv.
if ! "$venv/bin/python" -c "import importlib.metadata as m; m.version('crewai')" 2>/dev/null; then
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check 'crewai>=1.0,<2' \
      >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    exit 1
  fi
fi
# Here the tests must not skip for want of CrewAI.
CREWAI_TESTS_REQUIRED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_agents_crewai.py tests/test_examples_frameworks.py::test_crewai_crew "$@"
