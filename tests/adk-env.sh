#!/usr/bin/env bash
# Google ADK's tests, in a venv of their own (tests/side-env.sh says how): google-adk pins websockets<16 while the
# main environment has websockets 17. Only google-adk and the packages it needs that the main environment lacks
# or has at other versions go in the venv (--no-deps); everything else (google-genai, OpenTelemetry, fastapi) is
# the main environment's, seen through side-env.sh's .pth file. LiteLLM is there too (ADK's way to OpenAI-compatible
# endpoints; it pins importlib-metadata<9, which --no-deps leaves alone: the main environment's 10.x works).
set -euo pipefail
cd "$(dirname "$0")/.."
ADK_TESTS_REQUIRED=1 LITELLM_LOCAL_MODEL_COST_MAP=True exec bash tests/side-env.sh adk \
  '--no-deps google-adk==2.15.0 websockets==15.0.1 authlib==1.9.10 joserfc==1.8.0 graphviz==0.21 litellm==1.110.2 fastuuid==0.14.0' \
  tests/test_agents_adk.py tests/test_examples_agent_frameworks.py::test_adk_agent "$@"
