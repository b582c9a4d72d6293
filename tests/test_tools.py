"""@tool on every kind of function, content capture, errors, metrics, and instrument(tools=...)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import types

import pytest

import otel_agentmetrics as agentmetrics
from otel_agentmetrics import ConfigError

from .scope_kit import point_map, scoped_telemetry


@agentmetrics.tool(name="search", description="Search the docs")
def search(query: str, limit: int = 2) -> list[str]:
    return [f"{query}-{i}" for i in range(limit)]


@agentmetrics.tool
async def fetch(url: str) -> str:
    """Fetch a page.

    More text that is not the description.
    """
    await asyncio.sleep(0)
    return f"<html>{url}</html>"


@agentmetrics.tool
def chunks(text: str):
    yield from text.split()
    return "done"


@agentmetrics.tool
async def stream_rows(n: int):
    for i in range(n):
        await asyncio.sleep(0)
        yield {"row": i}


@agentmetrics.tool
def explode(reason: str) -> None:
    raise PermissionError(reason)


def test_sync_tool_span(otel):
    with scoped_telemetry(otel, openai_client=False):
        assert search("otel") == ["otel-0", "otel-1"]
    span = otel.only_span()
    assert span.name == "execute_tool search"
    assert span.kind.name == "INTERNAL"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Search the docs",
    }
    assert search.__name__ == "search"


def test_content_only_with_capture_on(otel):
    with scoped_telemetry(otel, capture="true", openai_client=False):
        search("otel", limit=1)
    span = otel.only_span()
    assert json.loads(span.attributes["gen_ai.tool.call.arguments"]) == {"query": "otel", "limit": 1}
    assert json.loads(span.attributes["gen_ai.tool.call.result"]) == ["otel-0"]


def test_async_tool_and_docstring_description(otel):
    with scoped_telemetry(otel, openai_client=False):
        assert asyncio.run(fetch("https://example.com")) == "<html>https://example.com</html>"
    span = otel.only_span()
    assert span.name == "execute_tool fetch"
    assert span.attributes["gen_ai.tool.description"] == "Fetch a page."


def test_generator_tool_spans_the_whole_iteration(otel):
    with scoped_telemetry(otel, capture="SPAN_ONLY", openai_client=False):
        gen = chunks("a b c")
        assert otel.finished() == []  # nothing runs before the first item is asked for
        assert list(gen) == ["a", "b", "c"]
    span = otel.only_span()
    assert span.name == "execute_tool chunks"
    assert json.loads(span.attributes["gen_ai.tool.call.result"]) == ["a", "b", "c"]


def test_generator_closed_early_ends_the_span_without_error(otel):
    with scoped_telemetry(otel, openai_client=False):
        gen = chunks("a b c")
        assert next(gen) == "a"
        gen.close()
    span = otel.only_span()
    assert span.status.status_code.name == "UNSET"


def test_generator_throw_and_send_are_forwarded(otel):
    @agentmetrics.tool
    def echo():
        received = []
        try:
            while True:
                received.append((yield len(received)))
        except ValueError:
            yield received

    with scoped_telemetry(otel, openai_client=False):
        gen = echo()
        assert next(gen) == 0
        assert gen.send("x") == 1
        assert gen.throw(ValueError("stop")) == ["x"]
        with pytest.raises(StopIteration):
            next(gen)
    assert otel.only_span().status.status_code.name == "UNSET"


def test_async_generator_tool(otel):
    async def consume():
        return [row async for row in stream_rows(3)]

    with scoped_telemetry(otel, openai_client=False):
        assert asyncio.run(consume()) == [{"row": 0}, {"row": 1}, {"row": 2}]
    span = otel.only_span()
    assert span.name == "execute_tool stream_rows"
    (point,) = otel.metric_points("agentmetrics.tool.duration")
    assert point.count == 1


def test_exception_is_recorded_and_reraised_untouched(otel):
    with scoped_telemetry(otel, openai_client=False), pytest.raises(PermissionError, match="no access"):
        explode("no access")
    span = otel.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.status.description == "no access"
    assert span.attributes["error.type"] == "PermissionError"
    assert [event.name for event in span.events] == ["exception"]


def test_tool_duration_metric_by_name_and_error(otel):
    with scoped_telemetry(otel, openai_client=False):
        search("a")
        search("b")
        with pytest.raises(PermissionError):
            explode("x")
    points = point_map(otel.metric_points("agentmetrics.tool.duration"))
    assert points[(("gen_ai.tool.name", "search"),)].count == 2
    assert points[(("error.type", "PermissionError"), ("gen_ai.tool.name", "explode"))].count == 1
    assert all(point.sum >= 0 for point in points.values())


def test_decorated_tool_inside_a_framework_tool_run_gets_one_span(otel):
    from otel_agentmetrics._runs import call
    from otel_agentmetrics.tools import start_tool

    with scoped_telemetry(otel, openai_client=False):
        run = start_tool("search", call_id="call_1")
        call(run, search, ("q",), {})
    span = otel.only_span()
    assert span.attributes["gen_ai.tool.call.id"] == "call_1"


def _module_with_tools(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(
        textwrap.dedent(
            """
            def lookup(key):
                return key.upper()

            class Store:
                def get(self, key):
                    return key * 2
            """
        ),
        module.__dict__,
    )
    sys.modules[name] = module
    return module


def test_instrument_tools_by_path_and_reference(otel):
    module = _module_with_tools("am_test_tools_mod")
    original_lookup, original_get = module.lookup, module.Store.get
    agentmetrics.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        instrumentations=[],
        tools=[module.lookup, "am_test_tools_mod:Store.get"],
    )
    try:
        assert module.lookup("k") == "K"
        assert module.Store().get("ab") == "abab"
    finally:
        agentmetrics.uninstrument()
    assert [s.name for s in otel.finished()] == ["execute_tool lookup", "execute_tool get"]
    assert module.lookup is original_lookup and module.Store.get is original_get
    del sys.modules["am_test_tools_mod"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("am_test_tools_bad:missing", "has no 'missing'"),
        ("am_test_tools_bad", "is not an import path"),
        (42, "neither a function nor"),
    ],
)
def test_bad_tool_targets_fail_at_start_up(otel, target, message):
    _module_with_tools("am_test_tools_bad")
    try:
        with pytest.raises(ConfigError, match=message):
            agentmetrics.instrument(
                tracer_provider=otel.tracer_provider,
                meter_provider=otel.meter_provider,
                instrumentations=[],
                tools=[target],
            )
    finally:
        agentmetrics.uninstrument()
        del sys.modules["am_test_tools_bad"]


def test_local_function_cannot_be_wrapped_in_place():
    def local():
        pass

    from otel_agentmetrics.tools import wrap_tools

    with pytest.raises(ConfigError, match="decorate it with @otel_agentmetrics.tool"):
        wrap_tools((local,))


def test_tools_from_the_environment(otel, monkeypatch):
    module = _module_with_tools("am_test_tools_env")
    monkeypatch.setenv("AGENTMETRICS_TOOLS", "am_test_tools_env:lookup, am_test_tools_env:Store.get")
    agentmetrics.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, instrumentations=[]
    )
    try:
        module.lookup("x")
        module.Store().get("y")
    finally:
        agentmetrics.uninstrument()
        del sys.modules["am_test_tools_env"]
    assert [s.name for s in otel.finished()] == ["execute_tool lookup", "execute_tool get"]


def test_our_failures_never_reach_the_tool(otel, monkeypatch):
    """Fail open: if opening or closing the run breaks, the user's function still runs and returns as usual."""
    from otel_agentmetrics import _guard
    from otel_agentmetrics.tools import ToolRun

    monkeypatch.setenv("AGENTMETRICS_RAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(_guard, "_seen", set())

    def broken_finish(self, duration, result):
        raise RuntimeError("bug in our finish")

    with scoped_telemetry(otel, openai_client=False):
        monkeypatch.setattr(ToolRun, "finish", broken_finish)
        assert search("q") == ["q-0", "q-1"]
        assert otel.only_span().name == "execute_tool search"  # still ended
        monkeypatch.setattr(ToolRun, "__init__", lambda self, *a, **k: 1 / 0)
        assert search("r", limit=1) == ["r-0"]
        assert list(chunks("x y")) == ["x", "y"]
        with pytest.raises(PermissionError):
            explode("still raised")


def test_without_instrument_tools_report_to_the_global_providers():
    """Before (or without) instrument(), e.g. under opentelemetry-instrument: the global providers, and the
    metric allow-list from the environment. Run in a fresh interpreter, where the global providers are unset."""
    import subprocess

    code = textwrap.dedent(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import otel_agentmetrics as agentmetrics

        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        @agentmetrics.tool
        def ping():
            return "pong"

        with agentmetrics.attributes(tenant="acme", user="u-1"):
            ping()
        (span,) = spans.get_finished_spans()
        assert span.name == "execute_tool ping" and span.attributes["user"] == "u-1"
        (m,) = [m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == "agentmetrics.tool.duration"]
        assert dict(m.data.data_points[0].attributes) == {"gen_ai.tool.name": "ping", "tenant": "acme"}
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["AGENTMETRICS_METRIC_ATTRIBUTES"] = "tenant"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
