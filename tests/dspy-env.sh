#!/usr/bin/env bash
# DSPy's tests, in a venv of their own (tests/side-env.sh says how): DSPy brings LiteLLM and moves versions the
# main environment shares (boto3/botocore, importlib-metadata).
set -euo pipefail
cd "$(dirname "$0")/.."
LITELLM_LOCAL_MODEL_COST_MAP=True DSPY_TESTS_REQUIRED=1 exec bash tests/side-env.sh dspy 'dspy>=3.0' tests/test_agents_dspy.py "$@"
