"""Exit statuses of the ``agentmetrics`` command, distinct so that cron jobs and CI can tell the cases apart.

The same table is in docs/summary.md ("Exit statuses"); keep the two in step.
"""

OK = 0
"""Done; ``alerts``: healthy."""
NO = 1
"""The answer is no: ``alerts`` degraded (a warning threshold crossed); ``prices``/``estimate`` know no price for
the model; ``prices --check`` found the file invalid; ``clear`` without ``--yes``."""
USAGE = 2
"""Bad arguments or configuration (a ConfigError, a bad ``AGENTMETRICS_*`` value); argparse uses 2 as well."""
NO_STORE = 3
"""No store at the path (``--store``, ``AGENTMETRICS_STORE`` or the default): nothing has been recorded there."""
UNHEALTHY = 4
"""``alerts``: unhealthy (a critical threshold crossed)."""
INTERRUPTED = 130
"""Ctrl-C (``live``, ``serve``)."""
