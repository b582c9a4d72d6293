"""What Phoenix and MLflow read beyond the GenAI conventions: an agent run's input and output on its
``invoke_agent`` span (content capture only) and, opt-in, the call's cost under their own attribute names.

Driven with the real ``openai`` client replaying a recorded two-step tool loop (tests/test_agents.py).
"""

from __future__ import annotations

import json

import pytest

import otel_agentmetrics as agentmetrics
from otel_agentmetrics._config import ConfigError, resolve
from otel_agentmetrics._setup import build_telemetry

from .openai_kit import client_for, recorded
from .scope_kit import by_name, openai_client, scoped_telemetry
from .test_agents import MESSAGES, PRICER, run_loop


def test_agent_run_carries_input_and_output_with_capture_on(otel):
    with scoped_telemetry(otel, PRICER, capture="SPAN_ONLY"), agentmetrics.agent("weather"):
        answer = run_loop(openai_client())
    spans = otel.finished()
    (agent_span,) = by_name(spans, "invoke_agent weather")
    first, last = by_name(spans, "chat gpt-4o-mini")
    attrs = agent_span.attributes
    assert attrs["input.mime_type"] == attrs["output.mime_type"] == "application/json"
    # The first model call's input messages (the question) and the last call's output (the answer).
    assert attrs["input.value"] == first.attributes["gen_ai.input.messages"]
    assert attrs["output.value"] == last.attributes["gen_ai.output.messages"]
    sent = json.loads(attrs["input.value"])
    assert [m["role"] for m in sent] == ["user"]  # the system prompt goes to gen_ai.system_instructions
    assert sent[0]["parts"][0]["content"] == MESSAGES[1]["content"]
    assert answer in json.loads(attrs["output.value"])[0]["parts"][0]["content"]


@pytest.mark.parametrize("capture", [None, "EVENT_ONLY"])
def test_agent_run_carries_no_content_unless_captured_on_spans(otel, capture):
    with scoped_telemetry(otel, PRICER, capture=capture), agentmetrics.agent("weather"):
        run_loop(openai_client())
    (agent_span,) = by_name(otel.finished(), "invoke_agent weather")
    assert not {"input.value", "output.value", "input.mime_type", "output.mime_type"} & set(agent_span.attributes)


CHAT = "test_chat_completion_with_content"
CHAT_COST = (12 * 0.15 + 5 * 0.60) / 1e6  # gpt-4o-mini, 12 + 5 tokens: https://openai.com/api/pricing/


def _priced_call(otel, **options):
    from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

    settings = resolve(**options)
    telemetry = build_telemetry(settings, otel.tracer_provider, otel.meter_provider)
    telemetry.pricer.load()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry, settings=settings)
    try:
        client_for(CHAT).chat.completions.create(**recorded(CHAT)[0])
    finally:
        instrumentor.uninstrument()
    return otel.only_span().attributes


def test_cost_under_the_viewers_names_when_asked(otel):
    attrs = _priced_call(otel, cost_attributes=["mlflow", "openinference"])
    assert attrs["gen_ai.usage.cost"] == pytest.approx(CHAT_COST, rel=1e-12)
    assert json.loads(attrs["mlflow.llm.cost"]) == {"total_cost": attrs["gen_ai.usage.cost"]}
    assert attrs["llm.cost.total"] == attrs["gen_ai.usage.cost"]


def test_cost_under_our_names_only_by_default(otel):
    attrs = _priced_call(otel)
    assert attrs["gen_ai.usage.cost"] == pytest.approx(CHAT_COST, rel=1e-12)
    assert "mlflow.llm.cost" not in attrs and "llm.cost.total" not in attrs


def test_cost_attributes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGENTMETRICS_COST_ATTRIBUTES", "mlflow")
    assert resolve().cost_attributes == ("mlflow",)


def test_unknown_viewer_is_a_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match=r"cost_attributes: unknown viewer\(s\) phoenix; use some of mlflow, open"):
        resolve(cost_attributes=["phoenix"])
    monkeypatch.setenv("AGENTMETRICS_COST_ATTRIBUTES", "langfuse")
    with pytest.raises(ConfigError, match="AGENTMETRICS_COST_ATTRIBUTES: unknown viewer"):
        resolve()
