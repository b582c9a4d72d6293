"""Attribution on spans, allow-listed keys on metrics with bounded cardinality, and operations."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

import otel_agentmetrics as agentmetrics

from .scope_kit import PerMillionPricer, by_name, openai_client, point_map, scoped_telemetry

MESSAGES = [{"role": "user", "content": "Say this is a test"}]


@agentmetrics.tool
def lookup(key: str) -> str:
    return key


def test_attributes_on_every_span_inside(otel):
    with scoped_telemetry(otel, PerMillionPricer(0.15, 0.60)):
        client = openai_client("openai/test_chat_completion_with_content")
        with agentmetrics.attributes(user="u-1", feature="search"), agentmetrics.agent("a"):
            with agentmetrics.attributes({"enduser.id": "e-9"}, feature="summarize"):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                lookup("k")
            with agentmetrics.operation("db_query"):
                pass
    spans = {span.name: span for span in otel.finished()}
    model, tool = spans["chat gpt-4o-mini"], spans["execute_tool lookup"]
    for span in (model, tool):
        assert span.attributes["user"] == "u-1"
        assert span.attributes["feature"] == "summarize"  # the inner block overrides
        assert span.attributes["enduser.id"] == "e-9"
    for span in (spans["invoke_agent a"], spans["db_query"]):
        assert (span.attributes["user"], span.attributes["feature"]) == ("u-1", "search")
        assert "enduser.id" not in span.attributes


def test_only_allow_listed_keys_reach_metrics(otel):
    with scoped_telemetry(otel, PerMillionPricer(0.15, 0.60), metric_attributes=("feature",)):
        client = openai_client("openai/test_chat_completion_with_content")
        with agentmetrics.attributes(user="u-1", feature="search"):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            lookup("k")
    (duration,) = otel.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["feature"] == "search" and "user" not in duration.attributes
    (cost,) = otel.metric_points("gen_ai.usage.cost")
    assert cost.attributes["feature"] == "search"
    assert cost.sum == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6, rel=1e-12)
    tokens = otel.metric_points("gen_ai.client.token.usage")
    assert {p.attributes["feature"] for p in tokens} == {"search"}
    (tool,) = otel.metric_points("agentmetrics.tool.duration")
    assert dict(tool.attributes) == {"gen_ai.tool.name": "lookup", "feature": "search"}


def test_cardinality_is_bounded_and_overflow_counted(otel):
    with scoped_telemetry(otel, metric_attributes=("user",), max_values=2, openai_client=False):
        for user in ["a", "b", "c", "a", "d", "b"]:
            with agentmetrics.attributes(user=user):
                lookup("k")
    points = point_map(otel.metric_points("agentmetrics.tool.duration"))
    counts = {dict(key)["user"]: point.count for key, point in points.items()}
    assert counts == {"a": 2, "b": 2, "other": 2}
    (overflow,) = otel.metric_points("agentmetrics.attribute.overflow")
    assert overflow.value == 2 and dict(overflow.attributes) == {"agentmetrics.attribute.key": "user"}
    # Spans keep the real value: only metrics are bounded.
    assert sorted(s.attributes["user"] for s in otel.finished()) == ["a", "a", "b", "b", "c", "d"]


def test_bad_attribute_values_are_refused_at_the_call_site():
    with pytest.raises(TypeError, match="pass str"):
        agentmetrics.attributes(user=object())


def test_operation_span_metrics_and_errors(otel):
    @agentmetrics.operation("db_query")
    def query(fail: bool) -> int:
        if fail:
            raise ConnectionError("db down")
        return 1

    @agentmetrics.operation("fetch")
    async def fetch() -> str:
        return "ok"

    with scoped_telemetry(otel, openai_client=False):
        query(False)
        with pytest.raises(ConnectionError):
            query(True)
        assert asyncio.run(fetch()) == "ok"
        with agentmetrics.operation("rerank", attributes={"docs": 3}):
            pass
    spans = otel.finished()
    assert sorted(s.name for s in spans) == ["db_query", "db_query", "fetch", "rerank"]
    (failed,) = [s for s in by_name(spans, "db_query") if s.status.status_code.name == "ERROR"]
    assert failed.attributes["error.type"] == "ConnectionError"
    assert by_name(spans, "rerank")[0].attributes["docs"] == 3
    points = point_map(otel.metric_points("agentmetrics.operation.duration"))
    assert points[(("agentmetrics.operation.name", "db_query"),)].count == 1
    assert points[(("agentmetrics.operation.name", "db_query"), ("error.type", "ConnectionError"))].count == 1
    assert points[(("agentmetrics.operation.name", "fetch"),)].count == 1
    active = otel.metric_points("agentmetrics.operation.active")
    assert {p.attributes["agentmetrics.operation.name"]: p.value for p in active} == {
        "db_query": 0,
        "fetch": 0,
        "rerank": 0,
    }


def test_operation_in_flight_count_while_running(otel):
    seen = []
    with scoped_telemetry(otel, openai_client=False):  # noqa: SIM117 - read the counter inside both
        with agentmetrics.operation("slow"), agentmetrics.operation("slow"):
            seen = [p.value for p in otel.metric_points("agentmetrics.operation.active")]
    assert seen == [2]


def test_with_blocks_leave_nothing_behind_in_a_long_lived_context(otel):
    """A ``with`` block per request in a long-lived thread (a WSGI worker, a queue consumer) used to leave one
    context variable per block in that thread's context for good, about 150 bytes each: the million-call soak
    grew 2 MB per 10,000 calls. A block now leaves its thread's context as it found it, and the same object
    still serves nested blocks."""

    def blocks() -> int:
        before = len(contextvars.copy_context())
        for index in range(1000):
            with (
                agentmetrics.attributes(tenant=f"t-{index}"),
                agentmetrics.agent("a"),
                agentmetrics.operation("op"),
                agentmetrics.budget(usd=5.0),
            ):
                pass
        shared = agentmetrics.attributes(user="u-1")
        with shared:
            with shared:
                assert len(contextvars.copy_context()) > before
            assert len(contextvars.copy_context()) > before
        return len(contextvars.copy_context()) - before

    with scoped_telemetry(otel, PerMillionPricer(0.15, 0.60)):
        assert contextvars.Context().run(blocks) == 0
    assert len([span for span in otel.finished() if span.name == "invoke_agent a"]) == 1000
