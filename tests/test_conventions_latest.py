"""OTEL_SEMCONV_STABILITY_OPT_IN: the latest GenAI names (semantic-conventions-genai), the old ones, or both.

Through the real ``anthropic`` client answering a documented prompt-caching body (anthropic_kit.wire_client):
with ``gen_ai_latest_experimental`` the span and metrics carry the latest names and none they deprecated; without
it nothing changes; ``agentmetrics_gen_ai_dup`` carries both.
"""

from __future__ import annotations

import anthropic
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otel_agentmetrics import _conventions
from otel_agentmetrics._telemetry import Telemetry

from .anthropic_kit import HELLO, MODEL, Wire, _client, loaded_pricer, message_body, wire_client
from .test_anthropic_wire import CACHED_COST, CACHED_USAGE

DEPRECATED = {"gen_ai.system", "gen_ai.usage.cache_creation.input_tokens", "gen_ai.prompt", "gen_ai.completion"}


def _instrument(otel, monkeypatch, opt_in, capture_content=None, logger_provider=None):
    from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor

    if opt_in is not None:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
    telemetry = Telemetry(
        otel.tracer_provider,
        otel.meter_provider,
        capture_content=capture_content,
        pricer=loaded_pricer(),
        logger_provider=logger_provider,
    )
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    return instrumentor


def _cached_call():
    client = wire_client(message_body([{"type": "text", "text": "Hi"}], CACHED_USAGE))
    system = [{"type": "text", "text": "A long manual ...", "cache_control": {"type": "ephemeral"}}]
    client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, system=system)


def _names(otel):
    data = otel.reader.get_metrics_data()
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _point(otel, name):
    points = otel.metric_points(name)
    assert len(points) == 1, (name, points)
    return points[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, _conventions.LEGACY),
        ("", _conventions.LEGACY),
        ("http", _conventions.LEGACY),
        ("gen_ai_latest_experimental", _conventions.LATEST),
        ("http/dup, gen_ai_latest_experimental", _conventions.LATEST),
        ("agentmetrics_gen_ai_dup", _conventions.BOTH),
        ("gen_ai_latest_experimental,agentmetrics_gen_ai_dup", _conventions.BOTH),
    ],
)
def test_the_switch_is_a_comma_separated_list(value, expected):
    assert _conventions.parse(value) == expected


def test_latest_anthropic_cached_call_carries_the_latest_names_only(otel, monkeypatch):
    instrumentor = _instrument(otel, monkeypatch, "gen_ai_latest_experimental")
    try:
        _cached_call()
    finally:
        instrumentor.uninstrument()
    attributes = dict(otel.only_span().attributes)
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.usage.input_tokens"] == 1520
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 500
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["gen_ai.usage.cost"] == pytest.approx(CACHED_COST, rel=1e-9)  # cost: still ours
    assert not DEPRECATED & set(attributes), DEPRECATED & set(attributes)
    assert not [key for key in attributes if key.startswith("gen_ai.openai.")]

    names = _names(otel)
    assert "gen_ai.client.token.usage" not in names
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "api.anthropic.com",
        "server.port": 443,
    }
    counted = {**base, "gen_ai.token.modality": "unknown"}
    for name, value in (
        ("gen_ai.client.inference.usage.input_tokens", 1520),
        ("gen_ai.client.inference.usage.output_tokens", 50),
        ("gen_ai.client.inference.usage.cache_read.input_tokens", 1000),
        ("gen_ai.client.inference.usage.cache_write.input_tokens", 500),
    ):
        point = _point(otel, name)
        assert (point.value, dict(point.attributes)) == (value, counted), name
    assert "gen_ai.client.inference.usage.reasoning.output_tokens" not in names  # not reported: not zero
    for name, value in (
        ("gen_ai.client.inference.operation.input_tokens", 1520),
        ("gen_ai.client.inference.operation.output_tokens", 50),
    ):
        point = _point(otel, name)
        assert (point.count, point.sum, dict(point.attributes)) == (1, value, base), name
    assert _point(otel, "gen_ai.usage.cost").sum == pytest.approx(CACHED_COST, rel=1e-9)


def test_without_the_switch_nothing_changes(otel, monkeypatch):
    instrumentor = _instrument(otel, monkeypatch, None)
    try:
        _cached_call()
    finally:
        instrumentor.uninstrument()
    attributes = dict(otel.only_span().attributes)
    assert attributes["gen_ai.system"] == "anthropic"
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 500
    assert "gen_ai.usage.cache_write.input_tokens" not in attributes
    names = _names(otel)
    assert "gen_ai.client.token.usage" in names
    assert not [name for name in names if name.startswith("gen_ai.client.inference.")]


def test_dup_emits_both_sets(otel, monkeypatch):
    instrumentor = _instrument(otel, monkeypatch, "agentmetrics_gen_ai_dup")
    try:
        _cached_call()
    finally:
        instrumentor.uninstrument()
    attributes = dict(otel.only_span().attributes)
    assert attributes["gen_ai.system"] == "anthropic"
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 500
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 500
    assert sorted(p.sum for p in otel.metric_points("gen_ai.client.token.usage")) == [50, 1520]
    assert _point(otel, "gen_ai.client.inference.operation.input_tokens").sum == 1520
    assert _point(otel, "gen_ai.client.inference.usage.cache_write.input_tokens").value == 500


def test_latest_failed_call_counts_zero_tokens(otel, monkeypatch):
    instrumentor = _instrument(otel, monkeypatch, "gen_ai_latest_experimental")
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    client = _client(Wire(error, status=529).transport(), False, max_retries=0)
    try:
        with pytest.raises(anthropic.APIStatusError):
            client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    finally:
        instrumentor.uninstrument()
    for name in ("gen_ai.client.inference.usage.input_tokens", "gen_ai.client.inference.usage.output_tokens"):
        point = _point(otel, name)
        assert point.value == 0
        assert point.attributes["error.type"] == "OverloadedError"
        assert point.attributes["gen_ai.token.modality"] == "unknown"
    assert otel.metric_points("gen_ai.client.inference.operation.input_tokens") == []


def test_latest_content_event_goes_through_the_logger_provider(otel, monkeypatch):
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    instrumentor = _instrument(
        otel, monkeypatch, "gen_ai_latest_experimental", capture_content="EVENT_ONLY", logger_provider=logger_provider
    )
    try:
        _cached_call()
    finally:
        instrumentor.uninstrument()
    span = otel.only_span()
    assert not span.events  # no span event in the latest conventions
    assert "gen_ai.input.messages" not in span.attributes  # EVENT_ONLY: not on the span
    (record,) = [item.log_record for item in logs.get_finished_logs()]
    assert record.event_name == "gen_ai.client.inference.operation.details"
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    assert record.attributes["gen_ai.provider.name"] == "anthropic"
    assert record.attributes["gen_ai.usage.cache_write.input_tokens"] == 500
    assert '"Say hello in one word."' in record.attributes["gen_ai.input.messages"]
    assert "gen_ai.system" not in record.attributes


def _deprecated_by_the_registry() -> set[str]:
    """The GenAI attribute names the installed opentelemetry-semantic-conventions marks as replaced or removed
    (its ``Deprecated: Replaced by ...`` / ``Deprecated: Removed`` notes), plus the renames the conventions made
    since they moved to their own repository (semantic-conventions-genai#440). No third-party checker (weaver)
    installs from a package registry, so this reads the registry the Python SDK ships."""
    import ast
    import inspect

    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

    tree = ast.parse(inspect.getsource(gen_ai_attributes))
    found = set()
    body = tree.body
    for statement, following in zip(body, body[1:], strict=False):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.value, ast.Constant)):
            continue
        note = (
            following.value.value
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            else ""
        )
        if isinstance(note, str) and note.strip().startswith(("Deprecated: Replaced by", "Deprecated: Removed")):
            found.add(statement.value.value)
    return found | {"gen_ai.usage.cache_creation.input_tokens"}


def test_the_registrys_deprecated_names_in_each_mode(otel, monkeypatch):
    deprecated = _deprecated_by_the_registry()
    assert {"gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.openai.request.seed"} <= deprecated
    for opt_in, expected in (
        ("gen_ai_latest_experimental", set()),
        (None, {"gen_ai.system", "gen_ai.usage.cache_creation.input_tokens"}),  # the checker does find them
    ):
        otel.spans.clear()
        instrumentor = _instrument(otel, monkeypatch, opt_in)
        try:
            _cached_call()
        finally:
            instrumentor.uninstrument()
        assert set(otel.only_span().attributes) & deprecated == expected, opt_in
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
