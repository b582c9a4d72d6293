#!/usr/bin/env bash
# LlamaIndex's agent tests, in a venv of their own (tests/side-env.sh says how): llama-index-llms-openai pins
# openai<3. The workflow tests need only llama-index-core and also run in the main environment.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMAINDEX_TESTS_REQUIRED=1 exec bash tests/side-env.sh llamaindex \
  'llama-index-core>=0.12 llama-index-llms-openai>=0.3 openai>=1.40,<3' \
  tests/test_agents_llamaindex.py tests/test_examples_frameworks.py::test_llamaindex_agent "$@"
