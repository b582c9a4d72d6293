#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need, then lint, types and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check -e '.[dev]'
bash tests/system-deps.sh
python -m ruff check .
python -m mypy
bash tests/litellm-env.sh  # LiteLLM needs openai<3: its tests run in a venv of their own
bash tests/llamaindex-env.sh  # so does llama-index-llms-openai
bash tests/crewai-env.sh  # and CrewAI
bash tests/autogen-env.sh  # AutoGen pins protobuf 5
bash tests/dspy-env.sh  # DSPy moves boto3 and importlib-metadata
bash tests/mcp1-env.sh  # mcp 1.x (the main environment has 2.x)
bash tests/strands-env.sh  # strands-agents pins watchdog<7
bash tests/adk-env.sh  # google-adk pins websockets<16
bash tests/viewers-env.sh --build  # a real MLflow server for tests/test_viewer_mlflow.py, from a venv of its own
python -m pytest -q "$@"
