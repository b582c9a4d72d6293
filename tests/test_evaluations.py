"""record_evaluation: the gen_ai.evaluation.result event in the evaluated call's trace, a score histogram, and
the report's scores beside cost.

A real ``openai`` client answers a question, then a judge model (another real call, through the same local
stand-in of the chat completions API) grades the answer; its verdict is recorded by the response id of the
graded answer, as an evaluator that does not hold the span would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import otel_agentmetrics
from otel_agentmetrics import _active, _evaluated
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.cli import main
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.summary import evaluations as stored
from otel_agentmetrics.summary import make_server, store
from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter

from .anthropic_kit import loaded_pricer
from .openai_kit import client_answering, httpx

ANSWER_ID = "chatcmpl-answer-0001"
JUDGE_ID = "chatcmpl-judge-0001"
VERDICT = {"score": 0.25, "label": "irrelevant", "explanation": "The answer does not name a city."}


def _completion(response_id: str, model: str, content: str, prompt: int, completion: int) -> dict[str, Any]:
    """A chat completion in the documented wire format (platform.openai.com/docs/api-reference/chat/object)."""
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": 1731368630,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _stand_in(request: Any) -> Any:
    body = json.loads(request.content)
    if body["model"] == "gpt-4o":  # the judge
        answer = _completion(JUDGE_ID, "gpt-4o-2024-08-06", json.dumps(VERDICT), 60, 20)
    else:
        answer = _completion(ANSWER_ID, "gpt-4o-mini-2024-07-18", "Somewhere in Europe.", 1000, 500)
    return httpx.Response(200, json=answer, request=request)


@pytest.fixture
def setup(otel, tmp_path):
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    local = LocalStoreSpanExporter(tmp_path / "spans.sqlite3")
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(local))
    telemetry = Telemetry(
        otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer(), logger_provider=logger_provider
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    _active.use(telemetry)
    try:
        yield otel, logs, local
    finally:
        _active.use(None)
        instrumentor.uninstrument()
        local.shutdown()


def _ask_and_judge() -> tuple[str, dict[str, Any]]:
    client = client_answering(_stand_in)
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Where is the Eiffel Tower?"}]
    )
    judged = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": f"Grade this answer as JSON: {answer.choices[0].message.content}"}],
    )
    return answer.id, json.loads(judged.choices[0].message.content)


def test_a_judges_verdict_lands_in_the_evaluated_calls_trace_and_beside_its_cost(setup, capsys):
    otel, logs, local = setup
    response_id, verdict = _ask_and_judge()
    otel_agentmetrics.record_evaluation(
        "relevance",
        score=verdict["score"],
        label=verdict["label"],
        explanation=verdict["explanation"],
        response_id=response_id,
    )
    answered = next(span for span in otel.finished() if span.attributes["gen_ai.response.id"] == ANSWER_ID)
    (record,) = [item.log_record for item in logs.get_finished_logs()]
    assert record.event_name == "gen_ai.evaluation.result"
    assert (record.trace_id, record.span_id) == (answered.context.trace_id, answered.context.span_id)
    assert dict(record.attributes) == {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.evaluation.score.value": 0.25,
        "gen_ai.evaluation.score.label": "irrelevant",
        "gen_ai.evaluation.explanation": "The answer does not name a city.",
        "gen_ai.response.id": ANSWER_ID,
    }
    (point,) = otel.metric_points("agentmetrics.evaluation.score")
    assert (point.count, point.sum) == (1, 0.25)
    assert dict(point.attributes) == {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    }

    # A second, good verdict on the same answer; then the store holds both beside the call's cost.
    otel_agentmetrics.record_evaluation("relevance", score=1.0, label="relevant", response_id=response_id)
    local.force_flush()
    cost = answered.attributes["gen_ai.usage.cost"]
    assert cost == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6, rel=1e-9)  # gpt-4o-mini: $0.15 and $0.60 /M
    with store.connect(local.path, create=False) as conn:
        groups = stored.summarize(conn)
    (by_model,) = groups["model"]
    assert (by_model.evaluation, by_model.group, by_model.count) == ("relevance", "gpt-4o-mini-2024-07-18", 2)
    assert by_model.mean_score == pytest.approx(0.625)
    assert by_model.labels == {"irrelevant": 0.5, "relevant": 0.5}
    assert by_model.good == 1
    assert by_model.cost_usd == pytest.approx(cost)  # the evaluated call, counted once
    assert by_model.usd_per_good == pytest.approx(cost)
    (by_run,) = groups["run"]
    assert by_run.group == format(answered.context.trace_id, "032x")

    assert main(["report", "--store", str(local.path)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Evaluations") :]
    line = next(line for line in section.splitlines() if "gpt-4o-mini-2024-07-18" in line)
    assert "relevance" in line and "n=2" in line and "mean=0.625" in line
    assert "irrelevant 50%, relevant 50%" in line
    assert f"cost ${cost:.6f}" in line and f"per good answer ${cost:.6f}" in line

    # The dashboard: /api/evaluations, and the table a browser draws from it.
    server = make_server("127.0.0.1", 0, local.path, refresh_s=0)
    server.start_in_thread()
    try:
        with urllib.request.urlopen(server.url + "api/evaluations", timeout=10) as response:
            served = json.loads(response.read())
        (row,) = served["model"]
        assert (row["evaluation"], row["group"], row["count"], row["good"]) == ("relevance", by_model.group, 2, 1)
        assert row["usd_per_good"] == pytest.approx(cost)
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is not None:
            flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"]
            profile = f"--user-data-dir={local.path.parent / 'profile'}"
            dom = subprocess.run(
                [browser, *flags, profile, server.url], capture_output=True, text=True, timeout=90
            ).stdout.split("<script>")[0]
            drawn = dom.split('id="evaluations"')[1].split("</section>")[0]
            assert "<h2>Evaluations</h2>" in drawn and '<td class="txt">gpt-4o-mini-2024-07-18</td>' in drawn
            assert "irrelevant 50.0%, relevant 50.0%" in drawn
    finally:
        server.shutdown()
        server.server_close()


def test_plain_values_with_a_span_or_the_current_one(setup):
    otel, logs, _ = setup
    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("guardrail check") as current:
        otel_agentmetrics.record_evaluation("toxicity", label="safe")  # the current span
    with tracer.start_as_current_span("other") as held:
        pass
    otel_agentmetrics.record_evaluation("helpfulness", score=3, span=held)
    otel_agentmetrics.record_evaluation("helpfulness", score=5, span=held.get_span_context())
    records = [item.log_record for item in logs.get_finished_logs()]
    assert [(r.attributes["gen_ai.evaluation.name"], r.span_id) for r in records] == [
        ("toxicity", current.get_span_context().span_id),
        ("helpfulness", held.get_span_context().span_id),
        ("helpfulness", held.get_span_context().span_id),
    ]
    assert "gen_ai.evaluation.score.value" not in records[0].attributes
    assert records[1].attributes["gen_ai.evaluation.score.value"] == 3.0
    (point,) = otel.metric_points("agentmetrics.evaluation.score")  # labels only without a score: no point
    assert (point.count, point.sum, dict(point.attributes)) == (2, 8.0, {"gen_ai.evaluation.name": "helpfulness"})


def test_an_unknown_response_id_outside_any_span_is_recorded_without_a_parent(setup):
    _, logs, _ = setup
    assert trace.get_current_span().get_span_context().is_valid is False
    otel_agentmetrics.record_evaluation("relevance", score=0.9, response_id="chatcmpl-long-gone")
    (record,) = [item.log_record for item in logs.get_finished_logs()]
    assert record.span_id == 0 and record.attributes["gen_ai.response.id"] == "chatcmpl-long-gone"


def test_remembered_calls_are_bounded(monkeypatch):
    monkeypatch.setattr(_evaluated, "_current", {})
    monkeypatch.setattr(_evaluated, "_previous", {})
    from otel_agentmetrics.record import CallRecord

    context = trace.SpanContext(1, 1, is_remote=False, trace_flags=trace.TraceFlags(1))
    total = 3 * _evaluated.MAX_REMEMBERED + 10
    for index in range(total):
        _evaluated.remember(CallRecord("chat", "openai", response_id=f"r{index}"), context, ())
        assert len(_evaluated._current) + len(_evaluated._previous) <= _evaluated.MAX_REMEMBERED
    assert _evaluated.evaluated("r0") is None
    recent = range(total - _evaluated.MAX_REMEMBERED // 2, total)  # at least the last half of the bound
    assert all(_evaluated.evaluated(f"r{index}") is not None for index in recent)
