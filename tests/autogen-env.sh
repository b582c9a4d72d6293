#!/usr/bin/env bash
# AutoGen AgentChat's tests, in a venv of their own (tests/side-env.sh says how): autogen-core pins protobuf~=5.29,
# while the main environment has protobuf 7 (grpcio, the OTLP exporters).
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOGEN_TESTS_REQUIRED=1 exec bash tests/side-env.sh autogen 'autogen-agentchat>=0.7 autogen-ext[openai]>=0.7' \
  tests/test_agents_autogen.py "$@"
