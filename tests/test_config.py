"""Settings as a user meets them: one reading of every switch, the documented forms of each option, a typo named
with its fix, and one option table shared by instrument(), resolve(), its docstring and docs/configuration.md."""

from __future__ import annotations

import inspect
import re
import socket
from pathlib import Path

import pytest

import otel_agentmetrics
from otel_agentmetrics._config import ConfigError, parse_bool, resolve
from otel_agentmetrics._content import CaptureMode
from tests.test_setup import run_python

ROOT = Path(__file__).resolve().parent.parent
SWITCHES = ["AGENTMETRICS_STREAM_USAGE", "AGENTMETRICS_OTLP", "AGENTMETRICS_RAISE_INTERNAL_ERRORS"]


@pytest.mark.parametrize(
    ("text", "value"),
    [(t, True) for t in ("true", "TRUE", "True", "1", "yes", "Yes", "on", " ON ")]
    + [(t, False) for t in ("false", "FALSE", "0", "no", "No", "off", "Off")],
)
def test_every_switch_reads_the_same_words(text: str, value: bool) -> None:
    assert parse_bool("X", text) is value


@pytest.mark.parametrize("variable", SWITCHES)
def test_a_bad_switch_value_is_a_config_error(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "maybe")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert str(info.value) == f"{variable}='maybe' is not a boolean; set it to true or false (or 1/0, yes/no, on/off)"


def test_switch_variables_take_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMETRICS_STREAM_USAGE", "yes")
    monkeypatch.setenv("AGENTMETRICS_OTLP", "On")
    settings = resolve()
    assert settings.stream_usage is True
    assert settings.traces_exporters == ("agentmetrics", "otlp") and settings.metrics_exporters == ("otlp",)
    monkeypatch.setenv("AGENTMETRICS_STREAM_USAGE", "0")
    monkeypatch.setenv("AGENTMETRICS_OTLP", "")  # empty: the default
    settings = resolve()
    assert settings.stream_usage is False and settings.traces_exporters == ("agentmetrics",)


def test_switch_arguments_read_the_same_words() -> None:
    # instrument(otlp="false") must not turn OTLP on because a non-empty string is truthy.
    assert resolve(otlp="false", console="no", stream_usage="off").traces_exporters == ("agentmetrics",)
    settings = resolve(otlp="yes", console="on", stream_usage="1")
    assert settings.traces_exporters == ("agentmetrics", "otlp", "console") and settings.stream_usage is True
    with pytest.raises(ConfigError, match=r"^console='sometimes' is not a boolean"):
        resolve(console="sometimes")


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("true", CaptureMode.SPAN_ONLY),
        ("1", CaptureMode.SPAN_ONLY),
        ("yes", CaptureMode.SPAN_ONLY),
        ("ON", CaptureMode.SPAN_ONLY),
        ("false", CaptureMode.NO_CONTENT),
        ("0", CaptureMode.NO_CONTENT),
        ("", CaptureMode.NO_CONTENT),
        ("span_and_event", CaptureMode.SPAN_AND_EVENT),
        ("EVENT_ONLY", CaptureMode.EVENT_ONLY),
    ],
)
def test_capture_content_variable(text: str, mode: CaptureMode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", text)
    assert resolve().capture is mode


def test_a_bad_capture_content_value_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe")
    with pytest.raises(ConfigError, match=r"^OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT='maybe' is not a "):
        resolve()
    with pytest.raises(ConfigError, match=r"^capture_content='spans' is not a choice; use true or false, or one of "):
        resolve(capture_content="spans")
    assert resolve(capture_content=True).capture is CaptureMode.SPAN_ONLY


@pytest.mark.parametrize(
    ("text", "on", "host", "port"),
    [
        ("true", True, "127.0.0.1", 9464),
        ("off", False, "127.0.0.1", 9464),
        ("9100", True, "127.0.0.1", 9100),
        ("127.0.0.1:9101", True, "127.0.0.1", 9101),
        ("0.0.0.0:9102", True, "0.0.0.0", 9102),
    ],
)
def test_prometheus_variable_takes_a_switch_a_port_or_host_port(
    text: str, on: bool, host: str, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMETRICS_PROMETHEUS", text)
    settings = resolve()
    assert (("prometheus" in settings.metrics_exporters), settings.prometheus_host, settings.prometheus_port) == (
        on,
        host,
        port,
    )


def test_prometheus_variable_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMETRICS_PROMETHEUS", "localhost:http")
    with pytest.raises(ConfigError, match=r"^AGENTMETRICS_PROMETHEUS='localhost:http': use True, a port number or "):
        resolve()
    monkeypatch.setenv("AGENTMETRICS_PROMETHEUS", "70000")
    with pytest.raises(ConfigError, match=r"^AGENTMETRICS_PROMETHEUS=70000 is out of range"):
        resolve()


def test_prometheus_variable_host_port_serves_metrics() -> None:
    # The documented form, end to end: the variable alone makes instrument() serve /metrics there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_python(
        f"""
        import urllib.request
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False)
        with urllib.request.urlopen("http://127.0.0.1:{port}/metrics", timeout=10) as response:
            print(response.status, response.headers["Content-Type"].split(";")[0])
        """,
        env={"AGENTMETRICS_PROMETHEUS": f"127.0.0.1:{port}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200 text/plain"


def test_unknown_option_names_the_closest_one() -> None:
    with pytest.raises(ConfigError) as info:
        otel_agentmetrics.instrument(servce_name="checkout")  # type: ignore[call-arg]
    assert str(info.value) == (
        "instrument() has no option 'servce_name'; did you mean 'service_name'? (every option: docs/configuration.md)"
    )
    with pytest.raises(ConfigError, match=r"^instrument\(\) has no option 'zzz'; use one of capture_content, console"):
        otel_agentmetrics.instrument(zzz=1)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"^instrument\(\) takes options by name only"):
        otel_agentmetrics.instrument("checkout")  # type: ignore[misc]


def _options() -> list[str]:
    return [
        name
        for name, parameter in inspect.signature(otel_agentmetrics.instrument).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]


def test_one_option_table_everywhere() -> None:
    # Adding an option to resolve() (or _setup.instrument) means adding it to instrument()'s signature, its
    # docstring and docs/configuration.md; this says which one is missing.
    options = _options()
    resolved = [n for n in inspect.signature(resolve).parameters]
    assert options == [*resolved, "tracer_provider", "meter_provider", "logger_provider"]
    doc = inspect.getdoc(otel_agentmetrics.instrument) or ""
    documented = re.findall(r"^    (\w+): ", doc.split("Args:")[1].split("Returns:")[0], re.M)
    assert documented == options
    table = (ROOT / "docs" / "configuration.md").read_text()
    keywords = set(re.findall(r"^\| `(\w+)`", table, re.M)) | {"tracer_provider", "meter_provider"}
    assert set(options) <= keywords, f"not in docs/configuration.md: {set(options) - keywords}"


def test_public_names_are_listed_and_visible() -> None:
    for name in ("instrument", "uninstrument", "tool", "agent", "budget", "BudgetExceeded", "attributes", "cost"):
        assert name in otel_agentmetrics.__all__ and name in dir(otel_agentmetrics), name
        assert getattr(otel_agentmetrics, name) is not None
    assert "Any" not in dir(otel_agentmetrics)
