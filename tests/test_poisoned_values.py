"""One call's unbelievable value costs that value alone: never the call's other attributes, another call's metric
points, nor a batch of stored spans.

Bodies are Chat Completions JSON as OpenAI documents it, with one field poisoned the way proxies and
self-hosted servers have sent them, served to the real ``openai`` client (which does not validate responses).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.record import MAX_TOKENS, CallRecord, checked, count_sum
from otel_agentmetrics.summary import store
from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter

from .openai_kit import client_answering
from .openai_kit import httpx as openai_httpx
from .wire_format import loaded_pricer

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def completion(prompt_tokens: str = "9", completion_tokens: str = "2", model: str = json.dumps(MODEL)) -> bytes:
    """A documented ``chat.completion`` body; the arguments are raw JSON, so ``1e400`` and ``NaN`` stay as sent."""
    body = (
        '{"id": "chatcmpl-9x", "object": "chat.completion", "created": 1733400000, "model": MODEL, '
        '"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}], '
        '"usage": {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION, "total_tokens": 11}}'
    )
    return (
        body.replace("MODEL", model).replace("PROMPT", prompt_tokens).replace("COMPLETION", completion_tokens).encode()
    )


class Bodies:
    """Answers each request with the next body."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []

    def __call__(self, request: Any) -> Any:
        return openai_httpx.Response(200, headers={"content-type": "application/json"}, content=self.queue.pop(0))


@pytest.fixture
def setup(otel):
    instrumentor = OpenAIInstrumentor()
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer())
    instrumentor.instrument(telemetry=telemetry, settings=resolve())
    bodies = Bodies()
    yield otel, bodies, client_answering(bodies)
    instrumentor.uninstrument()


def rejected(otel: Any) -> dict[str, int]:
    return {
        p.attributes["agentmetrics.record.field"]: p.value for p in otel.metric_points("agentmetrics.values.rejected")
    }


def token_sums(otel: Any) -> dict[str, float]:
    return {p.attributes["gen_ai.token.type"]: p.sum for p in otel.metric_points("gen_ai.client.token.usage")}


# ``true`` is not among them: the openai client itself turns it into 1 (checked below, on the record).
POISONS = ["[]", "{}", '"abc"', "-1", "1.5", str(2**63), str(MAX_TOKENS + 1), "1e400", "NaN", "-Infinity"]


@pytest.mark.parametrize("poison", POISONS)
def test_a_bad_token_count_costs_that_field_alone(setup, poison):
    otel, bodies, client = setup
    bodies.queue += [completion(prompt_tokens=poison), completion()]
    first = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    second = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert first.choices[0].message.content == second.choices[0].message.content == "Hello"
    poisoned, good = otel.finished()
    assert "gen_ai.usage.input_tokens" not in poisoned.attributes
    assert poisoned.attributes["gen_ai.usage.output_tokens"] == 2
    assert poisoned.attributes["gen_ai.response.id"] == "chatcmpl-9x"
    assert poisoned.attributes["gen_ai.response.model"] == MODEL
    assert poisoned.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert good.attributes["gen_ai.usage.input_tokens"] == 9
    assert token_sums(otel) == {"input": 9, "output": 4}
    assert rejected(otel) == {"input_tokens": 1}


def test_integral_floats_are_counts(setup):
    otel, bodies, client = setup
    bodies.queue.append(completion(prompt_tokens="6.0", completion_tokens="2.0"))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = otel.only_span()
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (6, 2)
    assert type(span.attributes["gen_ai.usage.input_tokens"]) is int
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx((6 * 0.15 + 2 * 0.60) / 1_000_000)
    assert rejected(otel) == {}


def test_one_poisoned_call_costs_no_other_call_its_metric_points(setup):
    """The points of ended calls wait to be recorded per series in one go: one bad value used to fail the whole
    series' batch (``bisect_left`` TypeError), losing every good call's input tokens in it."""
    otel, bodies, client = setup
    poisons = ["[]", "{}", '"abc"', str(2**63)]
    for index in range(80):
        bodies.queue.append(completion(prompt_tokens=poisons[index // 20] if index % 2 else "9"))
    for _ in range(80):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert token_sums(otel) == {"input": 40 * 9, "output": 80 * 2}
    (durations,) = otel.metric_points("gen_ai.client.operation.duration")
    assert durations.count == 80
    assert rejected(otel) == {"input_tokens": 40}


def test_an_unhashable_model_costs_the_model_alone(setup):
    otel, bodies, client = setup
    bodies.queue.append(completion(model="[]"))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = otel.only_span()
    assert "gen_ai.response.model" not in span.attributes
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-9x"
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (9, 2)
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx((9 * 0.15 + 2 * 0.60) / 1_000_000)
    assert token_sums(otel) == {"input": 9, "output": 2}
    assert rejected(otel) == {"response_model": 1}


def test_usage_without_choices_still_yields_tokens(setup):
    otel, bodies, client = setup
    body = {"id": "chatcmpl-9x", "object": "chat.completion", "created": 1, "model": MODEL}
    bodies.queue.append(json.dumps({**body, "usage": {"prompt_tokens": 9, "completion_tokens": 0}}).encode())
    bodies.queue.append(json.dumps({**body, "choices": None, "usage": {"prompt_tokens": 9}}).encode())
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    for span in otel.finished():
        assert span.attributes["gen_ai.usage.input_tokens"] == 9
        assert span.attributes["gen_ai.response.id"] == "chatcmpl-9x"
    assert token_sums(otel)["input"] == 18


def test_no_metric_reader_means_no_warning_when_a_batch_fills(caplog):
    """With no reader, the call that fills the batch of waiting points used to log an IndexError traceback."""
    tracer_provider = TracerProvider()
    meter_provider = MeterProvider()  # no reader configured
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(tracer_provider, meter_provider), settings=resolve())
    bodies = Bodies()
    bodies.queue += [completion()] * 300
    client = client_answering(bodies)
    try:
        with caplog.at_level(logging.DEBUG, logger="otel_agentmetrics"):
            for _ in range(300):  # past the batch of 256
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_store_keeps_every_row_when_spans_carry_numbers_sqlite_cannot(tmp_path: Path):
    """Another instrumentation's span may carry anything: 2**63 or inf used to raise OverflowError out of the
    export, losing the whole batch with 0 counted as dropped."""
    exporter = LocalStoreSpanExporter(tmp_path / "spans.sqlite3")
    provider = TracerProvider()
    spans: list[Any] = []
    provider.add_span_processor(SimpleSpanProcessor(_Keep(spans)))
    tracer = provider.get_tracer("other-instrumentation")
    for index in range(81):
        tokens: Any = (2**63, float("inf"), 10**30)[index % 3] if index % 2 else 5
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": MODEL,
            "gen_ai.usage.input_tokens": tokens,
        }
        if index % 4 == 1:
            attributes["gen_ai.usage.cost"] = float("inf")
        tracer.start_span("chat", attributes=attributes).end()
    assert exporter.export(spans).name == "SUCCESS"
    conn = store.connect(tmp_path / "spans.sqlite3")
    rows = conn.execute("SELECT input_tokens, cost FROM spans").fetchall()
    assert len(rows) == 81
    assert sorted({row["input_tokens"] for row in rows}, key=str) == [5, None]
    assert {row["cost"] for row in rows} == {None}
    assert exporter.dropped_spans == 0


def test_a_row_sqlite_cannot_bind_is_dropped_and_counted_alone(tmp_path: Path):
    conn = store.connect(tmp_path / "spans.sqlite3")
    good = store.SpanRow("a" * 32, "b" * 16, None, "model", "chat", 1, 2, 1e-9, 1, input_tokens=5)
    bad = store.SpanRow("a" * 32, "c" * 16, None, "model", "chat", 1, 2, 1e-9, 1, input_tokens=2**64)
    with pytest.raises(store.UNSTORABLE):
        store.insert(conn, [good, bad])
    assert store.insert_each(conn, [good, bad]) == 1
    assert [tuple(r) for r in conn.execute("SELECT span_id, input_tokens FROM spans")] == [("b" * 16, 5)]


class _Keep:
    def __init__(self, into: list[Any]) -> None:
        self.into = into

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.into.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


@pytest.mark.parametrize(
    ("value", "expected"),
    [(6, 6), (6.0, 6), (0, 0), (MAX_TOKENS, MAX_TOKENS), (MAX_TOKENS + 1, None), (True, None), (1.5, None),
     (-1, None), (float("nan"), None), (float("inf"), None), ("7", None), ([], None)],
)  # fmt: skip
def test_token_counts_are_validated_where_they_enter_the_record(value, expected):
    record = CallRecord(operation="chat", provider="openai", input_tokens=value, output_tokens=3)
    assert checked(record) == (None if expected is not None else ["input_tokens"])
    assert record.input_tokens == expected and record.output_tokens == 3
    assert expected is None or type(record.input_tokens) is int


def test_parts_of_one_count_add_up_only_when_all_are_counts():
    assert count_sum(5, None, 2.0) == 7
    assert count_sum(None, None) is None
    assert count_sum(5, "abc", 2) == "abc"  # left for checked() to drop and count


def test_cohere_fractional_count_is_dropped_not_truncated(otel):
    """Cohere's client types counts as floats; a fraction used to be truncated (``int(1.5)`` is 1) and ``inf``
    raised OverflowError, losing every response attribute of the call."""
    import cohere
    import httpx

    from otel_agentmetrics.instrumentors.llm.cohere import CohereInstrumentor

    from .test_cohere import CHAT
    from .wire_format import Wire

    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer()))
    usage = {"billed_units": {"input_tokens": 1.5, "output_tokens": 418.0}}
    wire = Wire(httpx).reply({**CHAT, "usage": usage})
    try:
        client = cohere.ClientV2(api_key="test", httpx_client=httpx.Client(transport=wire.transport()))
        client.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}])
    finally:
        instrumentor.uninstrument()
    span = otel.only_span()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert span.attributes["gen_ai.usage.output_tokens"] == 418
    assert span.attributes["gen_ai.response.id"] == CHAT["id"]
    assert rejected(otel) == {"input_tokens": 1}


@pytest.mark.parametrize("choices", ['"0"', "0", "[1]", '[{"index": "a", "finish_reason": []}]', '{"a": 1}'])
def test_wrongly_shaped_choices_cost_the_choices_alone(setup, caplog, choices):
    otel, bodies, client = setup
    bodies.queue.append(completion().replace(b'"choices": [', b'"choices": ' + choices.encode() + b', "x": ['))
    with caplog.at_level(logging.DEBUG, logger="otel_agentmetrics"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = otel.only_span()
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-9x"
    assert span.attributes["gen_ai.response.model"] == MODEL
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (9, 2)
    assert token_sums(otel) == {"input": 9, "output": 2}
    assert [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()] == []


def test_a_stream_chunk_of_the_wrong_shape_costs_that_chunk_alone(otel, caplog):
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    head = '"id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"'
    events = [
        '{HEAD, "choices": null}',
        '{HEAD, "choices": ["0", {"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}',
        '{HEAD, "choices": [{"index": 0, "delta": true, "finish_reason": "stop"}]}',
        '{HEAD, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}',
    ]
    sse = "".join(f"data: {event.replace('HEAD', head)}\n\n" for event in events) + "data: [DONE]\n\n"

    def answer(request: Any) -> Any:
        return openai_httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())

    try:
        with caplog.at_level(logging.DEBUG, logger="otel_agentmetrics"):
            chunks = list(client_answering(answer).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    assert len(chunks) == 4
    span = otel.only_span()
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-9x"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (9, 2)
    assert [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()] == []
