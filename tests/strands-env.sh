#!/usr/bin/env bash
# Strands Agents' tests, in a venv of their own (tests/side-env.sh says how): strands-agents pins watchdog<7 while
# the main environment has watchdog 7. Only strands-agents, its watchdog and its opentelemetry-instrumentation-
# threading go in the venv (--no-deps); everything else (openai, boto3, mcp, OpenTelemetry) is the main
# environment's, seen through side-env.sh's .pth file.
set -euo pipefail
cd "$(dirname "$0")/.."
STRANDS_TESTS_REQUIRED=1 exec bash tests/side-env.sh strands \
  '--no-deps strands-agents==1.65.0 watchdog==6.0.0 opentelemetry-instrumentation-threading==0.66b2' \
  tests/test_agents_strands.py tests/test_examples_agent_frameworks.py::test_strands_agent "$@"
