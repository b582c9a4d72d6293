#!/usr/bin/env bash
# LiteLLM's tests, in an environment of their own: the LiteLLM releases that install today pin openai<3, while the
# main environment tests openai 3.x. The venv sees the main site-packages (this package, pytest, OpenTelemetry) and
# adds LiteLLM with its own openai 2.x on top. Kept outside the work tree, so lint and type checks never see it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${AGENTMETRICS_LITELLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-agentmetrics/venv-litellm}"
[ -x "$venv/bin/python" ] || python -m venv --system-site-packages "$venv"
# Installed once per venv (resolving LiteLLM's pins takes half a minute even when nothing changes).
if ! "$venv/bin/python" -c "import importlib.metadata as m; m.version('litellm')" 2>/dev/null; then
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check 'litellm>=1.50,<2' >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    exit 1
  fi
fi
# Here the tests must not skip for want of LiteLLM.
AGENTMETRICS_LITELLM_ENV=1 LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_litellm.py "$@"
