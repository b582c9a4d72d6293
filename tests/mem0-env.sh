#!/usr/bin/env bash
# mem0's tests, in a venv of their own (tests/side-env.sh says how): mem0ai pins protobuf<7, the main environment
# has protobuf 7. Its vector store (Qdrant, local mode) and LangChain come from the main environment.
set -euo pipefail
cd "$(dirname "$0")/.."
MEM0_TESTS_REQUIRED=1 MEM0_TELEMETRY=False exec bash tests/side-env.sh mem0 'mem0ai>=1,<3' \
  tests/test_retrieval_mem0.py "$@"
