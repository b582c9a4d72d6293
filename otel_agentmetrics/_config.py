"""Settings: keyword arguments of ``instrument()`` first, then environment variables, then defaults.

Every setting is checked here, at start-up, so a bad value stops the program with one line that names the
setting and the fix, instead of failing later inside a user's request. ``docs/configuration.md`` is the table
of all of them; keep the two in step.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from ._content import ENV_CAPTURE_CONTENT, CaptureMode


class ConfigError(ValueError):
    """A setting has a value we cannot use. The message names the setting and how to fix it."""


startup_error: ConfigError | None = None
"""Set by the ``opentelemetry-instrument`` configurator when the environment's settings cannot work: it has said so
in one line, and the instrumentors loaded after it stay off instead of repeating it with a traceback each."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

P = ParamSpec("P")
R = TypeVar("R")


def parse_bool(name: str, value: str | bool) -> bool:
    """The one reading of every on/off switch: true/false, 1/0, yes/no, on/off, in any case."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; set it to true or false (or 1/0, yes/no, on/off)")


def env_bool(name: str, default: bool) -> bool:
    """A switch from the environment; unset or empty means ``default``."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return parse_bool(name, raw)


def parse_capture_mode(value: str | bool | None, name: str = "capture_content") -> CaptureMode:
    """A switch (``true``, ``1``, ``off`` ...) or a mode name (``SPAN_ONLY`` ...), case-insensitive; ``None`` reads
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. Anything else is a ConfigError: a typo must not be
    mistaken for either choice silently."""
    if value is None:
        name, value = ENV_CAPTURE_CONTENT, os.environ.get(ENV_CAPTURE_CONTENT, "")
        if not value.strip():
            return CaptureMode.NO_CONTENT
    if isinstance(value, str) and value.strip().upper() in CaptureMode.__members__:
        return CaptureMode(value.strip().upper())
    try:
        return CaptureMode.SPAN_ONLY if parse_bool(name, value) else CaptureMode.NO_CONTENT
    except ConfigError:
        modes = ", ".join(CaptureMode.__members__)
        raise ConfigError(f"{name}={value!r} is not a choice; use true or false, or one of {modes}") from None


def unknown_option(function: str, name: str, valid: Iterable[str]) -> ConfigError:
    """``instrument(servce_name=...)``: one line naming the closest valid option."""
    import difflib

    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(valid)}"
    return ConfigError(f"{function}() has no option {name!r}; {hint} (every option: docs/configuration.md)")


def keyword_options(function: Callable[P, R]) -> Callable[P, R]:
    """Let a function of keyword-only options answer an unknown or positional option with a ConfigError (the
    signature, for help() and type checkers, stays the function's own)."""
    code = function.__code__
    valid = frozenset(code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount])

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        if args:
            raise ConfigError(f"{function.__name__}() takes options by name only, e.g. service_name='my-app'")
        for name in kwargs:
            if name not in valid:
                raise unknown_option(function.__name__, name, valid)
        return function(*args, **kwargs)

    return checked


def env_int(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to e.g. {default}") from None
    return check_range(name, value, minimum, maximum)


def check_range(name: str, value: int, minimum: int, maximum: int | None) -> int:
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}={value} is out of range; use a number between {minimum}{upper}")
    return value


def env_list(name: str) -> tuple[str, ...] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _retention(value: str | float | None) -> float | None:
    """``store_retention`` / ``AGENTMETRICS_STORE_RETENTION``: seconds, or a duration such as ``7d`` or ``12h``."""
    name = "store_retention" if value is not None else "AGENTMETRICS_STORE_RETENTION"
    raw = value if value is not None else (os.environ.get(name) or None)
    if raw is None:
        return None
    from .summary.timeparse import parse_duration

    try:
        seconds = float(raw) if isinstance(raw, int | float) else parse_duration(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a duration; use e.g. 7d, 12h or a number of seconds") from None
    if seconds <= 0:
        raise ConfigError(f"{name}={raw!r} must be more than zero; use e.g. 7d")
    return seconds


@dataclass(slots=True)
class Settings:
    """Resolved settings of one ``instrument()`` call."""

    instrumentations: tuple[str, ...] | None = None
    """Libraries to instrument by name (``openai``, ``anthropic`` ...); ``None`` means every installed one."""
    service_name: str | None = None
    capture: CaptureMode = CaptureMode.NO_CONTENT
    traces_exporters: tuple[str, ...] = ("agentmetrics",)
    metrics_exporters: tuple[str, ...] = ()
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9464
    store_path: str | None = None
    store_retention: float | None = None
    """Seconds the local store keeps spans (``None``: its default, 30 days)."""
    prices: str | None = None
    stream_usage: bool = False
    tools: tuple[Any, ...] = ()
    metric_attributes: tuple[str, ...] = ()
    max_attribute_values: int = 100
    process_metrics: bool = False
    """The process's memory and CPU as OTel metrics (opentelemetry-instrumentation-system-metrics)."""
    raw_errors: bool = False
    """Record error messages as raised, without masking credentials and echoed content (``_redact``)."""
    cost_attributes: tuple[str, ...] = ()
    """Viewers whose own cost attribute model-call spans also carry (``mlflow``, ``openinference``)."""
    shutdown_timeout: float = 5.0
    """Seconds the final flush at exit may take before the process leaves without it (a hung collector)."""
    extra: dict[str, Any] = field(default_factory=dict)


def _prometheus(value: bool | int | str | None, s: Settings) -> bool:
    """``prometheus`` / ``AGENTMETRICS_PROMETHEUS``: a switch, a port or ``host:port`` (then it is on). In the
    variable, ``1`` and ``0`` are switches like everywhere else; port 0 (any free port) is ``127.0.0.1:0``."""
    name = "prometheus"
    if value is None:
        raw = os.environ.get("AGENTMETRICS_PROMETHEUS", "").strip()
        if not raw:
            return False
        name, value = "AGENTMETRICS_PROMETHEUS", raw
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_bool(name, value)
        except ConfigError:
            pass
        host, _, port = value.rpartition(":")
        try:
            value = int(port)
        except ValueError:
            raise ConfigError(f"{name}={value!r}: use True, a port number or 'host:port'") from None
        if host:
            s.prometheus_host = host
    if isinstance(value, int):
        s.prometheus_port = check_range(name, value, 0, 65535)
        return True
    raise ConfigError(f"{name}={value!r}: use True, a port number or 'host:port'")


def resolve(
    *,
    instrumentations: list[str] | tuple[str, ...] | None = None,
    service_name: str | None = None,
    capture_content: bool | str | None = None,
    prometheus: bool | int | str | None = None,
    otlp: bool | None = None,
    console: bool | None = None,
    store: str | os.PathLike[str] | bool | None = None,
    store_retention: str | float | None = None,
    prices: str | os.PathLike[str] | None = None,
    stream_usage: bool | None = None,
    tools: list[Any] | tuple[Any, ...] | None = None,
    metric_attributes: list[str] | tuple[str, ...] | None = None,
    max_attribute_values: int | None = None,
    process_metrics: bool | None = None,
    raw_errors: bool | None = None,
    cost_attributes: list[str] | tuple[str, ...] | None = None,
) -> Settings:
    """Merge keyword arguments over the environment and validate everything."""
    s = Settings()
    s.instrumentations = (
        tuple(instrumentations) if instrumentations is not None else env_list("AGENTMETRICS_INSTRUMENT")
    )
    s.service_name = service_name or os.environ.get("OTEL_SERVICE_NAME") or None
    s.capture = parse_capture_mode(capture_content)

    traces = env_list("OTEL_TRACES_EXPORTER")
    metrics_ = env_list("OTEL_METRICS_EXPORTER")
    s.traces_exporters = traces if traces is not None else ("agentmetrics",)
    s.metrics_exporters = metrics_ if metrics_ is not None else ()
    if "none" in s.traces_exporters:
        s.traces_exporters = ()
    if "none" in s.metrics_exporters:
        s.metrics_exporters = ()

    s.prometheus_host = os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST") or "127.0.0.1"
    s.prometheus_port = env_int("OTEL_EXPORTER_PROMETHEUS_PORT", 9464, 0, 65535)
    prometheus = _prometheus(prometheus, s)
    if prometheus and "prometheus" not in s.metrics_exporters:
        s.metrics_exporters = (*s.metrics_exporters, "prometheus")
    otlp = parse_bool("otlp", otlp) if otlp is not None else env_bool("AGENTMETRICS_OTLP", False)
    if otlp:
        if "otlp" not in s.traces_exporters:
            s.traces_exporters = (*s.traces_exporters, "otlp")
        if "otlp" not in s.metrics_exporters:
            s.metrics_exporters = (*s.metrics_exporters, "otlp")
    if console is not None and parse_bool("console", console):
        s.traces_exporters = (*s.traces_exporters, "console")

    if store is False:
        s.traces_exporters = tuple(name for name in s.traces_exporters if name != "agentmetrics")
    elif store is not None and store is not True:
        s.store_path = os.fspath(store)
    else:
        s.store_path = os.environ.get("AGENTMETRICS_STORE") or None
    s.store_retention = _retention(store_retention)

    s.prices = os.fspath(prices) if prices is not None else (os.environ.get("AGENTMETRICS_PRICES") or None)
    s.stream_usage = (
        parse_bool("stream_usage", stream_usage)
        if stream_usage is not None
        else env_bool("AGENTMETRICS_STREAM_USAGE", False)
    )
    s.tools = tuple(tools) if tools is not None else (env_list("AGENTMETRICS_TOOLS") or ())
    s.metric_attributes = (
        tuple(metric_attributes)
        if metric_attributes is not None
        else (env_list("AGENTMETRICS_METRIC_ATTRIBUTES") or ())
    )
    if max_attribute_values is not None:
        s.max_attribute_values = check_range("max_attribute_values", max_attribute_values, 1, None)
    else:
        s.max_attribute_values = env_int("AGENTMETRICS_MAX_ATTRIBUTE_VALUES", 100, 1)
    s.process_metrics = (
        parse_bool("process_metrics", process_metrics)
        if process_metrics is not None
        else env_bool("AGENTMETRICS_PROCESS_METRICS", False)
    )
    s.raw_errors = (
        parse_bool("raw_errors", raw_errors) if raw_errors is not None else env_bool("AGENTMETRICS_RAW_ERRORS", False)
    )
    s.shutdown_timeout = float(env_int("AGENTMETRICS_SHUTDOWN_TIMEOUT", 5, 0, 600))
    env_bool("AGENTMETRICS_RAISE_INTERNAL_ERRORS", False)  # read where errors happen (_guard); checked here
    s.cost_attributes = _cost_attributes(cost_attributes)
    return s


def _cost_attributes(value: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    name = "cost_attributes" if value is not None else "AGENTMETRICS_COST_ATTRIBUTES"
    names = tuple(value) if value is not None else (env_list(name) or ())
    if not names:
        return names
    from ._viewers import COST_ATTRIBUTES

    unknown = [n for n in names if n not in COST_ATTRIBUTES]
    if unknown:
        raise ConfigError(f"{name}: unknown viewer(s) {', '.join(unknown)}; use some of {', '.join(COST_ATTRIBUTES)}")
    return names
