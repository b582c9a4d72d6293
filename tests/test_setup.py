"""instrument()/uninstrument(): providers, reuse, idempotence, flush at exit, config errors.

Global OpenTelemetry providers can be set once per process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    full_env["AGENTMETRICS_STORE"] = os.devnull if os.name != "nt" else "NUL"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def test_instrument_creates_providers_patches_and_uninstrument_restores() -> None:
    result = run_python(
        """
        import openai._base_client as m  # the OpenAI instrumentor wraps the client's request()
        from opentelemetry import trace, metrics
        original = m.SyncAPIClient.__dict__["request"]
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False)
        assert type(trace.get_tracer_provider()).__name__ == "TracerProvider"
        assert type(metrics.get_meter_provider()).__name__ == "MeterProvider"
        assert m.SyncAPIClient.__dict__["request"] is not original
        assert m.SyncAPIClient.__dict__["request"].__wrapped__ is original
        otel_agentmetrics.uninstrument()
        assert m.SyncAPIClient.__dict__["request"] is original
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_instrument_twice_is_harmless_and_reuses_configured_providers() -> None:
    result = run_python(
        """
        from opentelemetry import trace, metrics
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.metrics import MeterProvider
        tp, mp = TracerProvider(), MeterProvider()
        trace.set_tracer_provider(tp); metrics.set_meter_provider(mp)
        import openai._base_client as m  # the OpenAI instrumentor wraps the client's request()
        original = m.SyncAPIClient.__dict__["request"]
        import otel_agentmetrics
        first = otel_agentmetrics.instrument()
        second = otel_agentmetrics.instrument()
        assert first is second
        assert trace.get_tracer_provider() is tp and metrics.get_meter_provider() is mp
        # wrapped exactly once
        assert m.SyncAPIClient.__dict__["request"].__wrapped__ is original
        assert not tp._active_span_processor._span_processors, "added an exporter to the user's provider"
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_spans_are_flushed_at_interpreter_exit() -> None:
    # A short script that ends right after its call loses nothing: our providers shut down at exit.
    result = run_python(
        """
        import otel_agentmetrics
        otel_agentmetrics.instrument(console=True, store=False)
        from opentelemetry import trace
        with trace.get_tracer("t").start_as_current_span("last-span-before-exit"):
            pass
        """,
        env={"OTEL_TRACES_EXPORTER": "none"},
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "last-span-before-exit"' in result.stdout


@pytest.mark.parametrize(
    ("code", "env", "message"),
    [
        ("instrument(prometheus='localhost:http')", {}, "prometheus='localhost:http': use True, a port number"),
        ("instrument()", {"OTEL_EXPORTER_PROMETHEUS_PORT": "abc"}, "PROMETHEUS_PORT='abc' is not a whole"),
        ("instrument()", {"AGENTMETRICS_STREAM_USAGE": "maybe"}, "AGENTMETRICS_STREAM_USAGE='maybe' is not a boolean"),
        ("instrument()", {"OTEL_TRACES_EXPORTER": "jaegerr"}, "OTEL_TRACES_EXPORTER: unknown exporter 'jaegerr'; use"),
        ("instrument(instrumentations=['opneai'])", {}, "instrumentations: unknown name(s) opneai; use some of"),
        ("instrument(max_attribute_values=0)", {}, "max_attribute_values=0 is out of range"),
    ],
)
def test_bad_settings_fail_at_start_up_with_one_line(code: str, env: dict[str, str], message: str) -> None:
    result = run_python(
        f"""
        from otel_agentmetrics import instrument, ConfigError
        try:
            {code}
        except ConfigError as error:
            print(error)
        else:
            print("no error")
        """,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert message in lines[0]


def test_import_and_instrument_are_fast() -> None:
    result = run_python(
        """
        import time
        start = time.perf_counter()
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False)
        print(time.perf_counter() - start)
        """
    )
    assert result.returncode == 0, result.stderr
    # The budget is 100 ms on a quiet machine; the assertion leaves room for a loaded CI box. The benchmark
    # in benchmarks/ reports the real figure.
    assert float(result.stdout) < 1.0


def test_libraries_imported_after_instrument_are_patched_on_import() -> None:
    result = run_python(
        """
        import sys
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False)
        assert "openai" not in sys.modules, "instrument() imported openai eagerly"
        import openai._base_client as m  # the OpenAI instrumentor wraps the client's request()
        import wrapt
        assert isinstance(m.SyncAPIClient.__dict__["request"], wrapt.FunctionWrapper)
        otel_agentmetrics.uninstrument()
        assert not isinstance(m.SyncAPIClient.__dict__["request"], wrapt.FunctionWrapper)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
