"""Logfire (the real package, offline) beside us: whichever of ``logfire.configure()`` and ``instrument()`` runs
first, one span per call with tokens and cost, and each metric point once, reach Logfire's own processors and
metric readers, and the span carries the attributes Logfire's UI lists LLM calls by."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .recorded_server import serve_cassette

pytest.importorskip("logfire", reason="logfire is in the dev extra (pip install -e '.[dev]')")

APP = Path(__file__).parent / "apps" / "logfire_app.py"
COST = 12 * 0.15e-6 + 5 * 0.60e-6  # gpt-4o-mini: $0.15 in, $0.60 out per million tokens


def run(order: str) -> tuple[dict, str, int]:
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_", "LOGFIRE_"))}
        env.update(
            OPENAI_BASE_URL=f"{base_url}/v1",
            OPENAI_API_KEY="test_openai_api_key",
            AGENTMETRICS_STORE=os.devnull,
            AGENTMETRICS_RAISE_INTERNAL_ERRORS="1",
        )
        result = subprocess.run(
            [sys.executable, str(APP), order], capture_output=True, text=True, env=env, timeout=90, cwd=APP.parent
        )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr, urlsplit(base_url).port or 0


@pytest.mark.parametrize("order", ["logfire-first", "instrument-first"])
def test_one_llm_span_with_tokens_and_cost_reaches_logfire(order: str) -> None:
    seen, stderr, port = run(order)
    assert [(span["name"], span["scope"]) for span in seen["spans"]] == [("chat gpt-4o-mini", "otel_agentmetrics")]
    attributes = seen["spans"][0]["attributes"]
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "server.address": "127.0.0.1",
        "server.port": port,
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        # What Logfire's UI reads: its cost attribute, the tag of its own LLM integrations, the message.
        "operation.cost": pytest.approx(COST, rel=1e-9),
        "gen_ai.usage.cost": pytest.approx(COST, rel=1e-9),
        "logfire.tags": ["LLM"],
        "logfire.msg_template": "{gen_ai.operation.name} {gen_ai.request.model}",
        "logfire.msg": "chat gpt-4o-mini",
        "logfire.span_type": "span",
    }
    assert {key: attributes.get(key) for key in expected} == expected

    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    answered = {**base, "gen_ai.response.model": "gpt-4o-mini-2024-07-18"}
    metrics = seen["metrics"]
    assert metrics["gen_ai.client.token.usage"] == [
        {"attributes": {**answered, "gen_ai.token.type": "input"}, "sum": 12, "count": 1},
        {"attributes": {**answered, "gen_ai.token.type": "output"}, "sum": 5, "count": 1},
    ]
    assert metrics["gen_ai.usage.cost"] == [{"attributes": base, "sum": pytest.approx(COST, rel=1e-9), "count": 1}]
    [duration] = metrics["gen_ai.client.operation.duration"]
    assert (duration["attributes"], duration["count"]) == (answered, 1)
    assert seen["configure_restored"], "uninstrument() left Logfire's configure wrapped"
    if order == "logfire-first":
        # Logfire's providers are reused: nothing of ours tries to replace them.
        assert "Overriding of current TracerProvider" not in stderr


def test_a_script_that_exits_during_the_price_load_prints_nothing() -> None:
    # With Logfire installed, importing genai-prices loads pydantic's plugins, Logfire among them; a script that
    # ends at once leaves that import to run while the interpreter exits, which refuses new thread pools.
    code = "import otel_agentmetrics\notel_agentmetrics.instrument(store=False)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_", "LOGFIRE_"))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
