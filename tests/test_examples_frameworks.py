"""The agent-framework programs in examples/ run as a user would run them, each with its own stand-in server.

With no ``OPENAI_API_KEY`` each example starts the bundled stand-in itself (as it does on a user's machine), so the
test clears the key. What it records is read back from the store: one agent run above its model and tool calls,
the calls' tokens, and dollars at the published gpt-4o-mini prices. LlamaIndex and CrewAI pin openai<3, so their
examples run where those are installed (``tests/llamaindex-env.sh``, ``tests/crewai-env.sh``) and skip here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from otel_agentmetrics.summary import summary

from .examples_kit import all_stored_spans, run_bare

GPT_4O_MINI = (0.15, 0.075, 0.60)  # USD per million tokens: input, cached input, output
ANSWER = "Here is what I found: 22 degrees and sunny in Lisbon. Enjoy the trip!\n"


def _run(name: str, tmp_path: Path) -> str:
    return run_bare(
        name,
        tmp_path,
        OTEL_SERVICE_NAME=name.removesuffix(".py"),
        CREWAI_DISABLE_TELEMETRY="true",
        OTEL_SDK_DISABLED="false",
    )


def _dollars(row: dict[str, object]) -> float:
    cached = int(row["cache_read_tokens"] or 0)  # type: ignore[call-overload]
    plain = int(row["input_tokens"]) - cached  # type: ignore[call-overload]
    price_in, price_cached, price_out = GPT_4O_MINI
    return (plain * price_in + cached * price_cached + int(row["output_tokens"]) * price_out) / 1e6  # type: ignore[call-overload]


def _check_one_agent_run(tmp_path: Path, agent: str, tools: list[str]) -> None:
    spans = all_stored_spans(tmp_path)
    runs = [s for s in spans if s["kind"] == "agent"]
    models = [s for s in spans if s["kind"] == "model"]
    assert [s["name"] for s in runs][:1] == [f"invoke_agent {agent}"]
    assert [s["name"] for s in spans if s["kind"] == "tool"] == [f"execute_tool {t}" for t in tools]
    assert len(models) == 2 and {m["name"] for m in models} == {"chat gpt-4o-mini"}
    assert all(int(m["input_tokens"]) > 0 and int(m["output_tokens"]) > 0 for m in models)  # type: ignore[call-overload]
    assert all(m["trace_id"] == runs[0]["trace_id"] for m in models)  # one trace: the run above its calls
    for model in models:
        assert model["cost"] == pytest.approx(_dollars(model), rel=1e-9)
    (stats,) = [a for a in summary(tmp_path / "store.sqlite3").by_agent if a.name == agent]
    assert stats.model_calls == 2
    assert stats.input_tokens == sum(int(m["input_tokens"]) for m in models)  # type: ignore[call-overload]
    assert stats.cost_usd == pytest.approx(sum(float(m["cost"]) for m in models), rel=1e-9)  # type: ignore[arg-type]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def _needs(*modules: str) -> pytest.MarkDecorator:
    missing = [m for m in modules if not _installed(m)]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (see the module docstring)")


@_needs("langgraph", "langchain_openai")
def test_langgraph_agent(tmp_path: Path) -> None:
    assert _run("langgraph_agent.py", tmp_path) == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])


@_needs("pydantic_ai")
def test_pydantic_ai_agent(tmp_path: Path) -> None:
    assert _run("pydantic_ai_agent.py", tmp_path) == ANSWER
    _check_one_agent_run(tmp_path, "forecaster", ["get_weather"])


@_needs("llama_index.llms.openai")
def test_llamaindex_agent(tmp_path: Path) -> None:
    out = _run("llamaindex_agent.py", tmp_path)
    assert "22 degrees and sunny in Lisbon" in out
    spans = all_stored_spans(tmp_path)
    assert [s["name"] for s in spans if s["kind"] == "tool"] == ["execute_tool get_weather"]
    assert len([s for s in spans if s["kind"] == "model"]) == 2


@_needs("crewai")
def test_crewai_crew(tmp_path: Path) -> None:
    _run("crewai_crew.py", tmp_path)
    spans = all_stored_spans(tmp_path)
    assert [s for s in spans if s["kind"] == "agent"], "the crew is an agent run"
    assert [s["name"] for s in spans if s["kind"] == "tool"] == ["execute_tool get_weather"]
