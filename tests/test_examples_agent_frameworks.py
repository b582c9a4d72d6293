"""The Agno, smolagents, Strands Agents and Google ADK programs in examples/, run as a user would run them, each
starting its own stand-in server (no ``OPENAI_API_KEY``). What they record is read back from the store: one agent
run above its model and tool calls, with tokens and dollars at the published gpt-4o-mini prices. Strands and ADK
run where they are installed (``tests/strands-env.sh``, ``tests/adk-env.sh``) and skip elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_agentmetrics.summary import summary
from otel_agentmetrics.summary.queries import run_detail
from otel_agentmetrics.summary.run_page import tree

from .examples_kit import all_stored_spans, run_bare
from .test_examples_frameworks import ANSWER, _check_one_agent_run, _needs


def _run(name: str, tmp_path: Path, **env: str) -> str:
    return run_bare(name, tmp_path, OTEL_SERVICE_NAME=name.removesuffix(".py"), **env)


def _check_run_page(tmp_path: Path, model_call: str = "chat gpt-4o-mini") -> None:
    """The run page's tree of the one run: the agent above its model call, tool run and model call, in order."""
    (run,) = [s for s in all_stored_spans(tmp_path) if s["kind"] == "agent"]
    detail = run_detail(tmp_path / "store.sqlite3", str(run["trace_id"]))
    assert (detail["model_calls"], detail["tool_calls"], detail["failed"]) == (2, 1, 0)
    (root,) = tree(detail["spans"])
    assert root.span["name"] == "invoke_agent forecaster"
    assert [step.span["name"] for step in root.children] == [model_call, "execute_tool get_weather", model_call]


@_needs("agno")
def test_agno_agent(tmp_path: Path) -> None:
    assert _run("agno_agent.py", tmp_path, AGNO_TELEMETRY="false") == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])
    _check_run_page(tmp_path)


@_needs("smolagents")
def test_smolagents_agent(tmp_path: Path) -> None:
    assert _run("smolagents_agent.py", tmp_path) == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])
    _check_run_page(tmp_path)


@_needs("strands")
def test_strands_agent(tmp_path: Path) -> None:
    assert _run("strands_agent.py", tmp_path) == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])
    _check_run_page(tmp_path)


GEMINI_2_5_FLASH = (0.30, 2.50)  # USD per million tokens: input, output (published prices)


@_needs("google.adk")
def test_adk_agent(tmp_path: Path) -> None:
    assert _run("adk_agent.py", tmp_path) == ANSWER
    spans = all_stored_spans(tmp_path)
    runs = [s for s in spans if s["kind"] == "agent"]
    models = [s for s in spans if s["kind"] == "model"]
    assert [s["name"] for s in runs] == ["invoke_agent forecaster"]  # ADK's own spans stand down: one run
    assert [s["name"] for s in spans if s["kind"] == "tool"] == ["execute_tool get_weather"]
    assert [m["name"] for m in models] == ["generate_content gemini-2.5-flash"] * 2
    for model in models:
        tokens_in, tokens_out = int(model["input_tokens"]), int(model["output_tokens"])  # type: ignore[call-overload]
        assert tokens_in > 0 and tokens_out > 0
        dollars = (tokens_in * GEMINI_2_5_FLASH[0] + tokens_out * GEMINI_2_5_FLASH[1]) / 1e6
        assert model["cost"] == pytest.approx(dollars, rel=1e-9)
    (stats,) = summary(tmp_path / "store.sqlite3").by_agent
    assert (stats.name, stats.model_calls) == ("forecaster", 2)
    assert stats.cost_usd == pytest.approx(sum(float(m["cost"]) for m in models), rel=1e-9)  # type: ignore[arg-type]
    _check_run_page(tmp_path, "generate_content gemini-2.5-flash")
