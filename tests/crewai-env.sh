#!/usr/bin/env bash
# CrewAI's tests, in a venv of their own (tests/side-env.sh says how): CrewAI pins openai<3 (and its own pydantic,
# httpx, rich).
set -euo pipefail
cd "$(dirname "$0")/.."
CREWAI_TESTS_REQUIRED=1 CREWAI_DISABLE_TELEMETRY=true exec bash tests/side-env.sh crewai 'crewai>=1.0,<2' \
  tests/test_agents_crewai.py tests/test_examples_frameworks.py::test_crewai_crew "$@"
