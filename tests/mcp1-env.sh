#!/usr/bin/env bash
# The MCP tests on mcp 1.x (FastMCP, no tracing of its own), in a venv of their own (tests/side-env.sh says how):
# the main environment has mcp 2.x, which traces itself; both majors are in use, so both are tested.
set -euo pipefail
cd "$(dirname "$0")/.."
MCP_TESTS_REQUIRED=1 exec bash tests/side-env.sh mcp1 'mcp>=1.30,<2' tests/test_mcp_two_process.py "$@"
