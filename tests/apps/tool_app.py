"""Calls a plain function; run under ``opentelemetry-instrument`` with AGENTMETRICS_TOOLS naming it."""

import toolbox

print("tool said:", toolbox.lookup("Paris"))
