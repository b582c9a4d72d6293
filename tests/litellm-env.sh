#!/usr/bin/env bash
# LiteLLM's tests, in a venv of their own (tests/side-env.sh says how): the releases that install today pin openai<3.
set -euo pipefail
cd "$(dirname "$0")/.."
LITELLM_TESTS_REQUIRED=1 LITELLM_LOCAL_MODEL_COST_MAP=True exec bash tests/side-env.sh litellm 'litellm>=1.50,<2' \
  tests/test_litellm.py "$@"
