"""Made-up model names cost bounded memory and log lines (issue 26).

Gateways pass user-chosen model names through. Each distinct name used to keep a calls-in-flight entry forever,
log its own "no price known" warning, and a 1 MiB name became a 1 MiB span name, attribute and metric label.
Now: names are cut to ``MAX_MODEL_NAME`` characters, metrics carry at most ``MAX_MODELS`` distinct names per
collection interval (later ones as ``other``, counted), in-flight entries of idle names are forgotten at each
collection, and unpriced models warn at most once a minute, with a count.
"""

from __future__ import annotations

import gc
import logging
import os

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_agentmetrics._config import resolve
from otel_agentmetrics._metrics import MAX_MODELS
from otel_agentmetrics._telemetry import Telemetry as CoreTelemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.record import MAX_MODEL_NAME, CallRecord

from .conftest import Telemetry
from .llm_stand_in import serve_chat

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _model_labels(otel: Telemetry, metric: str, key: str = "gen_ai.request.model") -> set[str]:
    return {str(point.attributes.get(key)) for point in otel.metric_points(metric)}


def test_a_huge_model_name_is_cut_everywhere(otel: Telemetry, caplog: pytest.LogCaptureFixture) -> None:
    huge = "m" * (1 << 20)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=CoreTelemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        with serve_chat() as base_url, caplog.at_level(logging.WARNING, "otel_agentmetrics"):
            client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
            reply = client.chat.completions.create(model=huge, messages=MESSAGES)  # type: ignore[arg-type]
    finally:
        instrumentor.uninstrument()
    assert reply.model == huge  # the user's result is untouched
    short = "m" * (MAX_MODEL_NAME - 1) + "\u2026"
    span = otel.only_span()
    assert span.name == f"chat {short}"
    assert span.attributes["gen_ai.request.model"] == short
    assert span.attributes["gen_ai.response.model"] == short
    assert _model_labels(otel, "gen_ai.client.operation.duration") == {short}
    assert _model_labels(otel, "gen_ai.client.operation.duration", "gen_ai.response.model") == {short}
    assert max(len(record.getMessage()) for record in caplog.records) < 2 * MAX_MODEL_NAME + 400


def test_distinct_names_past_the_limit_are_other_and_counted(otel: Telemetry) -> None:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=CoreTelemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        with serve_chat() as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
            for index in range(MAX_MODELS + 20):
                client.chat.completions.create(model=f"gw-model-{index}", messages=MESSAGES)  # type: ignore[arg-type]
    finally:
        instrumentor.uninstrument()
    labels = _model_labels(otel, "gen_ai.client.operation.duration")
    assert len(labels) == MAX_MODELS + 1 and "other" in labels
    assert len({span.attributes["gen_ai.request.model"] for span in otel.finished()}) == MAX_MODELS + 20
    (overflow,) = [
        point
        for point in otel.metric_points("agentmetrics.attribute.overflow")
        if point.attributes.get("agentmetrics.attribute.key") == "gen_ai.request.model"
    ]
    assert overflow.value == 20
    # The next interval admits names again.
    assert sum(point.count for point in otel.metric_points("gen_ai.client.operation.duration")) == MAX_MODELS + 20


def _resident() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_twenty_thousand_model_names_keep_memory_flat(caplog: pytest.LogCaptureFixture) -> None:
    """Past the warm-up (the SDK's own limit of 2000 series per metric reached), more made-up names add nothing:
    our in-flight entries, series index, unpriced-warning memory and the SDK's storage stay as they were."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    telemetry = CoreTelemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    telemetry.pricer.load()

    def calls(first: int, count: int) -> None:
        for index in range(first, first + count):
            # A self-hosted gateway's provider name: no price for any of its models (and a quick lookup).
            call = telemetry.start(CallRecord("chat", "my-gateway", request_model=f"user-model-{index}"))
            call.record.response_model = f"user-model-{index}"
            call.record.input_tokens, call.record.output_tokens = 10, 2
            call.end()
            if index % 500 == 499:
                reader.get_metrics_data()  # a collection interval, as a scrape or an export would make

    with caplog.at_level(logging.WARNING, "otel_agentmetrics"):
        calls(0, 5000)
        gc.collect()
        before = _resident()
        calls(5000, 15000)
        gc.collect()
        grown = _resident() - before
    assert len(telemetry.metrics._in_flight) <= MAX_MODELS + 1
    assert grown < 4 * 1024 * 1024, f"grew {grown} bytes over 15000 new model names"
    unpriced = [r for r in caplog.records if "no price known" in r.getMessage()]
    assert len(unpriced) == 1  # once a minute at most: this test runs well within one
    overflow = [r for r in caplog.records if "distinct model names" in r.getMessage()]
    assert len(overflow) == 20000 // 500  # one per interval, with the count
    assert "300 calls were recorded on metrics with model 'other'" in overflow[0].getMessage()
