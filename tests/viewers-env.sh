#!/usr/bin/env bash
# The trace viewers' test (tests/test_viewer_mlflow.py) with a real MLflow server. MLflow is large and pins its own
# dependencies, so it gets a venv of its own that the tests only start as a server and ask over HTTP; it never
# shares a package with ours. The venv is made from the base interpreter, not the current venv's: it works the
# same when this runs from inside a user's virtualenv. Kept outside the work tree (lint and type checks never see
# it) and installed once. (Its variables are not AGENTMETRICS_*: tests/conftest.py clears those.)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
venv="${TEST_VIEWERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-agentmetrics/venv-viewers}"
if [ ! -x "$venv/bin/mlflow" ]; then
  base="$("$python" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
  "$base" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check 'mlflow>=3.5,<4' >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    exit 1
  fi
fi
# tests/run.sh only builds it (--build): its own pytest run then finds the venv at the default path.
[ "${1:-}" = "--build" ] && exit 0
# The test itself runs in the current environment (ours); here it must not skip for want of the venv.
TEST_VIEWERS_VENV="$venv" TEST_VIEWERS_REQUIRED=1 "$python" -m pytest -q -p no:cacheprovider \
  tests/test_viewer_mlflow.py "$@"
