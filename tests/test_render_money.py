"""Dollar amounts in the report and exports: small calls keep their digits instead of reading as free."""

from __future__ import annotations

import pytest

from otel_agentmetrics.summary.render import money


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        (None, "-"),
        (0.0, "$0"),
        # gpt-4o-mini, 12 input + 5 output tokens at $0.15/$0.60 per million: $0.0000048.
        ((12 * 0.15 + 5 * 0.60) / 1_000_000, "$0.0000048"),
        (0.00012, "$0.00012"),
        (0.0016, "$0.0016"),
        (0.5, "$0.5000"),
        (1234.5, "$1,234.50"),
    ],
)
def test_money(usd: float | None, shown: str) -> None:
    assert money(usd) == shown
