"""Cost on real spans and metric points: the real ``openai`` client replaying recorded cassettes through our
instrumentor, priced by hand from OpenAI's published per-million prices; unknown models; the start-up window."""

from __future__ import annotations

import logging
import threading
import time
from importlib.metadata import version
from typing import Any

import pytest

from otel_agentmetrics import _telemetry
from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.pricing import Pricer, _pricer
from otel_agentmetrics.record import CallRecord

from .openai_kit import client_for, recorded

M = 1_000_000
# The installed genai-prices; its version is part of the cost source attribute.
SOURCE = f"genai-prices=={version('genai-prices')}"
COST_ATTRS = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "server.address": "api.openai.com",
    "server.port": 443,
}


@pytest.fixture
def priced(otel: Any) -> Any:
    pricer = Pricer()
    pricer.load()
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=pricer)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry, settings=resolve())
    yield otel
    instrumentor.uninstrument()


def cost_attrs(span: Any) -> tuple[Any, Any, Any]:
    a = span.attributes
    return a.get("gen_ai.usage.cost"), a.get("operation.cost"), a.get("agentmetrics.cost.source")


def test_chat_completion_cost(priced):
    # openai/test_chat_completion_with_content: gpt-4o-mini-2024-07-18, 12 prompt + 5 completion tokens.
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens.
    client = client_for("test_chat_completion_with_content")
    client.chat.completions.create(**recorded("test_chat_completion_with_content")[0])
    expected = (12 * 0.15 + 5 * 0.60) / M
    usd, same, source = cost_attrs(priced.only_span())
    assert usd == pytest.approx(expected, rel=1e-12)
    assert same == usd
    assert source == SOURCE
    (point,) = priced.metric_points("gen_ai.usage.cost")
    assert dict(point.attributes) == {**COST_ATTRS, "gen_ai.request.model": "gpt-4o-mini"}
    assert point.count == 1
    assert point.sum == pytest.approx(expected, rel=1e-12)
    # 4.8e-06 USD falls in the (1e-06, 1e-05] bucket, the second: small calls are not lumped together.
    assert point.explicit_bounds[0] < expected <= point.explicit_bounds[1]
    assert point.bucket_counts[1] == 1


def test_streaming_cost_uses_the_dated_response_model(priced):
    # openai/test_chat_completion_streaming: requested gpt-4, answered by gpt-4-0613, 12 + 5 tokens (usage chunk).
    # https://openai.com/api/pricing/ (legacy models) gpt-4-0613: $30 input, $60 output per 1M tokens.
    body = recorded("test_chat_completion_streaming")[0]
    for _ in client_for("test_chat_completion_streaming").chat.completions.create(**body):
        pass
    usd, _, source = cost_attrs(priced.only_span())
    assert usd == pytest.approx((12 * 30 + 5 * 60) / M, rel=1e-12)
    assert source == SOURCE


async def test_two_calls_sum_in_the_metric(priced):
    # openai/test_async_chat_completion_tool_calls_with_content: two gpt-4o-mini calls, 75+51 then 99+24 tokens
    # (read from the cassette below). https://openai.com/api/pricing/ gpt-4o-mini: $0.15 / $0.60 per 1M.
    name = "test_async_chat_completion_tool_calls_with_content"
    client = client_for(name, is_async=True)
    for index in range(2):
        await client.chat.completions.create(**recorded(name, index)[0])
    costs = [span.attributes["gen_ai.usage.cost"] for span in priced.finished()]
    first, second = (99 * 0.15 + 24 * 0.60) / M, (75 * 0.15 + 51 * 0.60) / M
    assert sorted(costs) == [pytest.approx(first, rel=1e-12), pytest.approx(second, rel=1e-12)]
    (point,) = priced.metric_points("gen_ai.usage.cost")
    assert point.count == 2
    assert point.sum == pytest.approx(first + second, rel=1e-12)


def test_responses_reasoning_cost(priced):
    # openai/test_responses_create_reports_reasoning_tokens: gpt-5.4-2026-03-05, 44 input, 288 output tokens of
    # which 9 reasoning (billed as output), service tier default.
    # https://openai.com/api/pricing/ gpt-5.4: $2.50 input, $15.00 output per 1M tokens.
    name = "test_responses_create_reports_reasoning_tokens[content_mode0]"
    client_for(name).responses.create(**recorded(name)[0])
    span = priced.only_span()
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 9
    usd, _, source = cost_attrs(span)
    assert usd == pytest.approx((44 * 2.50 + 288 * 15.00) / M, rel=1e-12)
    assert source == SOURCE


def test_unknown_model_no_cost_counter_and_one_warning(otel, caplog):
    pricer = Pricer()
    pricer.load()
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=pricer)
    caplog.set_level(logging.WARNING, logger="otel_agentmetrics")
    for _ in range(3):
        call = telemetry.start(CallRecord(operation="chat", provider="openai", request_model="my-finetune-v9"))
        call.record.input_tokens, call.record.output_tokens = 10, 5
        call.end()
    for span in otel.finished():
        assert "gen_ai.usage.cost" not in span.attributes
        assert "operation.cost" not in span.attributes
        assert "agentmetrics.cost.source" not in span.attributes
    assert otel.metric_points("gen_ai.usage.cost") == []
    (point,) = otel.metric_points("agentmetrics.calls.unpriced")
    assert dict(point.attributes) == {"gen_ai.provider.name": "openai", "gen_ai.request.model": "my-finetune-v9"}
    assert point.value == 3
    warnings = [r for r in caplog.records if "no price known" in r.getMessage()]
    assert len(warnings) == 1
    assert "'my-finetune-v9'" in warnings[0].getMessage()


def test_provider_reported_cost_is_believed(otel):
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=Pricer())
    call = telemetry.start(CallRecord(operation="chat", provider="openrouter", request_model="openai/gpt-4o"))
    call.record.input_tokens, call.record.output_tokens, call.record.provider_cost = 100, 10, 0.000123
    call.end()
    assert cost_attrs(otel.only_span()) == (0.000123, 0.000123, "provider")


def test_call_ending_while_the_table_loads(otel, monkeypatch):
    """A call that ends before the background load finishes waits at most LOAD_WAIT, then goes on without a cost
    and without being counted as unpriced; the next call is priced."""
    from otel_agentmetrics.pricing import _table

    release = threading.Event()
    real = _table.PriceTable

    def slow_table() -> Any:
        release.wait(10)
        return real()

    monkeypatch.setattr(_table, "PriceTable", slow_table)
    monkeypatch.setattr(_pricer, "LOAD_WAIT", 0.05)
    pricer = Pricer()
    pricer.start_loading()
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=pricer)

    def one_call() -> None:
        call = telemetry.start(CallRecord(operation="chat", provider="openai", request_model="gpt-4o-mini"))
        call.record.input_tokens, call.record.output_tokens = 1000, 1000
        call.end()

    started = time.perf_counter()
    one_call()
    first_took = time.perf_counter() - started
    started = time.perf_counter()
    one_call()  # the bounded wait is paid once at most: this one does not wait at all
    second_took = time.perf_counter() - started
    assert 0.05 <= first_took < 1.0
    assert second_took < 0.05
    release.set()
    pricer.load()
    one_call()
    first, second, third = otel.finished()
    assert "gen_ai.usage.cost" not in first.attributes
    assert "gen_ai.usage.cost" not in second.attributes
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens.
    assert third.attributes["gen_ai.usage.cost"] == pytest.approx((1000 * 0.15 + 1000 * 0.60) / M, rel=1e-12)
    assert otel.metric_points("agentmetrics.calls.unpriced") == []


def test_fork_during_the_load_restarts_it_in_the_child(monkeypatch):
    """gunicorn --preload forks after instrument(): a child forked mid-load loads the table itself."""
    import os

    from otel_agentmetrics.pricing import _table

    parent = os.getpid()
    real = _table.PriceTable

    def slow_in_parent() -> Any:
        if os.getpid() == parent:
            time.sleep(1.0)
        return real()

    monkeypatch.setattr(_table, "PriceTable", slow_in_parent)
    pricer = Pricer()
    pricer.start_loading()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            pricer.load()
            cost = pricer.price(CallRecord(operation="chat", provider="openai", request_model="gpt-4o-mini",
                                           input_tokens=1000, output_tokens=1000))  # fmt: skip
            os.write(write, repr(cost and cost.usd).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    for _ in range(300):
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        os.kill(child, 9)
        os.waitpid(child, 0)
        pytest.fail("the forked child never got a price table")
    got = os.read(read, 100).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens.
    assert float(got) == pytest.approx((1000 * 0.15 + 1000 * 0.60) / M, rel=1e-12)


def test_pricing_bug_loses_only_the_dollars(otel, monkeypatch):
    monkeypatch.setenv("AGENTMETRICS_RAISE_INTERNAL_ERRORS", "0")

    class Broken(Pricer):
        def price(self, record: CallRecord) -> Any:
            raise RuntimeError("boom")

    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, pricer=Broken())
    call = telemetry.start(CallRecord(operation="chat", provider="openai", request_model="gpt-4o-mini"))
    call.record.input_tokens = 3
    call.end()
    span = otel.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 3
    assert "gen_ai.usage.cost" not in span.attributes
    assert _telemetry is not None


def test_responses_stream_cost(priced):
    # openai/test_responses_create_streaming_aggregates_cache_tokens: gpt-4o-mini-2024-07-18, 22 input (0 cached),
    # 6 output tokens in the response.completed event. https://openai.com/api/pricing/ gpt-4o-mini: $0.15 / $0.60.
    name = "test_responses_create_streaming_aggregates_cache_tokens[content_mode0]"
    for _ in client_for(name).responses.create(**recorded(name)[0]):
        pass
    usd, _, source = cost_attrs(priced.only_span())
    assert usd == pytest.approx((22 * 0.15 + 6 * 0.60) / M, rel=1e-12)
    assert source == SOURCE


def test_settings_price_file_reaches_the_spans(otel, tmp_path):
    """instrument()'s wiring: build_telemetry() gives the Telemetry a Pricer for settings.prices (instrument()
    then starts its background load)."""
    from otel_agentmetrics._setup import build_telemetry

    path = tmp_path / "prices.toml"
    path.write_text('[[prices]]\nmodel = "gpt-4o-mini"\ninput = 1.0\noutput = 2.0\n')
    telemetry = build_telemetry(resolve(prices=str(path)), otel.tracer_provider, otel.meter_provider)
    telemetry.pricer.load()
    call = telemetry.start(CallRecord(operation="chat", provider="openai", request_model="gpt-4o-mini"))
    call.record.input_tokens, call.record.output_tokens = 1000, 500
    call.end()
    usd, same, source = cost_attrs(otel.only_span())
    assert usd == same == pytest.approx((1000 * 1.0 + 500 * 2.0) / M, rel=1e-12)
    assert source == "override"
