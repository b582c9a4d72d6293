#!/usr/bin/env bash
# LiteLLM's tests, in an environment of their own: the LiteLLM releases that install today pin openai<3, while the
# main environment tests openai 3.x. The venv holds LiteLLM with its own openai 2.x and sees everything else
# (this package, pytest, OpenTelemetry) in the environment that runs this script, whatever it is: the machine's
# Python as CI uses it, or a user's virtualenv. (`--system-site-packages` cannot do that from inside a virtualenv:
# it sees the base interpreter's packages, not the virtualenv's.) Kept outside the work tree, so lint and type
# checks never see it; built in a scratch directory and moved into place only when complete, so a failed install
# leaves nothing broken behind.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(python -c 'import sys; print(sys.executable)')
tag=$("$python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')
venv="${AGENTMETRICS_LITELLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-agentmetrics/venv-litellm-$tag}"

# The venv sees the current environment's site directories through a .pth file that runs site.addsitedir on each,
# so that their own .pth files (the editable install of this package among them) take effect too. They come after
# the venv's own site-packages: LiteLLM's openai 2.x wins over the openai of the main environment.
see_main_env() {
  local purelib
  purelib=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  "$python" -c '
import site
from pathlib import Path

dirs = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
for d in dict.fromkeys(dirs):
    if Path(d).is_dir():
        print(f"import site; site.addsitedir({d!r})")
' >"$purelib/zz-agentmetrics-main-env.pth"
}

if ! "$venv/bin/python" -c "import importlib.metadata as m; m.version('litellm')" 2>/dev/null; then
  # Installed once per venv (resolving LiteLLM's pins takes half a minute even when nothing changes).
  scratch="$venv.partial.$$"
  trap 'rm -rf "$scratch"' EXIT
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$scratch"
  if ! "$scratch/bin/python" -m pip install -q --disable-pip-version-check 'litellm>=1.50,<2' >"$scratch/pip.log" 2>&1
  then
    cat "$scratch/pip.log" >&2
    exit 1
  fi
  mv "$scratch" "$venv"  # only a complete venv gets the real name (its scripts keep the scratch path; unused here)
  trap - EXIT
fi
see_main_env "$venv"  # every run: the main environment may have changed (another virtualenv, a fresh clone)
# Here the tests must not skip for want of LiteLLM.
AGENTMETRICS_LITELLM_ENV=1 LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_litellm.py "$@"
