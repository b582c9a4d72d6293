#!/usr/bin/env bash
# Weaviate's tests, in a venv of their own (tests/side-env.sh says how): weaviate-client pins protobuf<7 and an
# older grpcio than the main environment's.
set -euo pipefail
cd "$(dirname "$0")/.."
WEAVIATE_TESTS_REQUIRED=1 exec bash tests/side-env.sh weaviate 'weaviate-client>=4.9,<5' \
  tests/test_retrieval_weaviate.py "$@"
