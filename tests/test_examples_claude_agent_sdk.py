"""examples/claude_agent.py runs as a user would run it: the real bundled Claude Code CLI against the stand-in
the example starts itself (no ``ANTHROPIC_API_KEY``); what it recorded is read back from the store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from otel_agentmetrics.summary import summary

from .examples_kit import all_stored_spans, run_bare

sdk = pytest.importorskip("claude_agent_sdk")
pytestmark = pytest.mark.skipif(
    not (Path(sdk.__file__).parent / "_bundled" / "claude").exists() and shutil.which("claude") is None,
    reason="this claude-agent-sdk wheel bundles no Claude Code CLI and none is installed",
)

HAIKU = (0.80, 0.08, 1.00, 4.00)  # claude-3-5-haiku USD per million tokens: input, cache read, cache write, output


def test_claude_agent_sdk_example(tmp_path: Path) -> None:
    out = run_bare("claude_agent.py", tmp_path, OTEL_SERVICE_NAME="claude_agent_sdk")
    assert out.startswith("Here is what I found: 22 degrees and sunny in Lisbon")
    spans = all_stored_spans(tmp_path)
    assert [s["name"] for s in spans if s["kind"] == "agent"] == ["invoke_agent claude_code"]
    assert [s["name"] for s in spans if s["kind"] == "tool"] == ["execute_tool mcp__weather__get_weather"]
    models = [s for s in spans if s["kind"] == "model"]
    assert [m["name"] for m in models] == ["chat claude-3-5-haiku-20241022"] * 2
    price_in, price_read, price_write, price_out = HAIKU
    for m in models:
        read, write = int(m["cache_read_tokens"] or 0), int(m["cache_creation_tokens"] or 0)
        plain = int(m["input_tokens"]) - read - write
        dollars = plain * price_in + read * price_read + write * price_write + int(m["output_tokens"]) * price_out
        assert m["cost"] == pytest.approx(dollars / 1e6, rel=1e-9)
    (stats,) = [a for a in summary(tmp_path / "store.sqlite3").by_agent if a.name == "claude_code"]
    assert stats.model_calls == 2
    assert stats.cost_usd == pytest.approx(sum(float(m["cost"]) for m in models), rel=1e-9)
