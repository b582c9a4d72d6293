#!/usr/bin/env bash
# Tests of a library that pins versions our main environment cannot take (LiteLLM, llama-index-llms-openai and
# CrewAI pin openai<3, while the main environment tests openai 3.x) run in a venv of their own:
#
#   bash tests/side-env.sh NAME 'PIP REQUIREMENT ...' PYTEST ARGS...
#
# The venv holds only the pinned library and its dependencies, and sees everything else (this package, pytest,
# OpenTelemetry) in the environment that runs this script, whatever it is: the machine's Python as CI uses it, or
# a user's virtualenv. (`--system-site-packages` cannot do that from inside a virtualenv: it sees the base
# interpreter's packages, not the virtualenv's.) It lives outside the work tree, so lint and type checks never see
# it, at ~/.cache/otel-agentmetrics/venv-NAME-pyX.Y (SIDE_ENV_DIR puts the venvs elsewhere); it is built in a
# scratch directory and moved into place only when complete, so a failed install leaves nothing broken behind,
# and a rerun reuses it. Whatever variables the caller sets reach pytest (e.g. the one that says a test file must
# not skip here: tests/conftest.py clears AGENTMETRICS_* names, so those are not usable for it).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
requirements=$2
shift 2
python=$(python -c 'import sys; print(sys.executable)')
tag=$("$python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')
venv="${SIDE_ENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-agentmetrics}/venv-$name-$tag"
stamp="$venv/requirements.txt"  # what it was built with: other requirements build it anew

# The venv sees the current environment's site directories through a .pth file that runs site.addsitedir on each,
# so that their own .pth files (the editable install of this package among them) take effect too. They come after
# the venv's own site-packages: the venv's pinned versions win over the main environment's.
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

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  scratch="$venv.partial.$$"
  trap 'rm -rf "$scratch"' EXIT
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$scratch"
  # shellcheck disable=SC2086  # the requirements are words on purpose
  if ! "$scratch/bin/python" -m pip install -q --disable-pip-version-check $requirements >"$scratch/pip.log" 2>&1; then
    cat "$scratch/pip.log" >&2
    exit 1
  fi
  printf '%s' "$requirements" >"$scratch/requirements.txt"
  mv "$scratch" "$venv"  # only a complete venv gets the real name (its scripts keep the scratch path; unused here)
  trap - EXIT
fi
see_main_env "$venv"  # every run: the main environment may have changed (another virtualenv, a fresh clone)
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
