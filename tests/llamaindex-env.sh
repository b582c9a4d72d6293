#!/usr/bin/env bash
# LlamaIndex-with-OpenAI tests, in an environment of their own: llama-index-llms-openai pins openai<3, while the
# main environment tests openai 3.x. The venv adds llama-index and its openai 2.x on top of the environment that
# runs this script (this package, pytest, OpenTelemetry): a .pth file adds that environment's site-packages after
# the venv's own, so the venv's openai wins. (`--system-site-packages` alone would see the machine's packages, not
# those of a venv this script is run from.) Kept outside the work tree, so lint and type checks never see it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${AGENTMETRICS_LLAMAINDEX_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-agentmetrics/venv-llamaindex}"
caller_site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ ! -x "$venv/bin/python" ]; then
  base_python="$(python -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
  "$base_python" -m venv --system-site-packages "$venv"
fi
venv_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$caller_site')" >"$venv_site/zz-agentmetrics-caller.pth"
# Installed once per venv.
if ! "$venv/bin/python" -c "import importlib.metadata as m; m.version('llama-index-llms-openai')" 2>/dev/null; then
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check 'llama-index-core>=0.12' \
      'llama-index-llms-openai>=0.3' 'openai>=1.40,<3' >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    exit 1
  fi
fi
# Here the tests must not skip for want of LlamaIndex.
LLAMAINDEX_TESTS_REQUIRED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_agents_llamaindex.py tests/test_examples_frameworks.py::test_llamaindex_agent "$@"
