"""otel-agentmetrics: OpenTelemetry spans, metrics and dollar costs for every LLM and tool call of an agent.

Usage::

    import otel_agentmetrics

    otel_agentmetrics.instrument()   # at start-up, before creating clients

Every option of :func:`instrument` and its environment variable is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import ConfigError
from ._config import keyword_options as _keyword_options
from .record import CallRecord
from .version import __version__

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence

    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from ._runs import carry_context
    from ._telemetry import Telemetry
    from .agents import agent
    from .attribution import attributes
    from .budgets import BudgetExceeded, budget
    from .evaluations import record_evaluation
    from .operations import operation
    from .pricing import cost, estimate
    from .tools import tool


@_keyword_options
def instrument(
    *,
    instrumentations: Sequence[str] | None = None,
    service_name: str | None = None,
    capture_content: bool | str | None = None,
    prometheus: bool | int | str | None = None,
    otlp: bool | None = None,
    console: bool | None = None,
    store: str | os.PathLike[str] | bool | None = None,
    store_retention: str | float | None = None,
    prices: str | os.PathLike[str] | None = None,
    stream_usage: bool | None = None,
    tools: Sequence[Callable[..., Any] | str] | None = None,
    metric_attributes: Sequence[str] | None = None,
    max_attribute_values: int | None = None,
    process_metrics: bool | None = None,
    raw_errors: bool | None = None,
    cost_attributes: Sequence[str] | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    logger_provider: Any = None,
) -> Telemetry:
    """Instrument every supported library that is installed and set up tracing and metrics.

    Call once at start-up, before creating clients; a second call returns the telemetry of the first. The SDK is
    imported here, not at ``import otel_agentmetrics``, and libraries are patched when they are imported. Each
    option left out (``None``) comes from its environment variable, then the default; the same table, with
    every other variable we read, is in ``docs/configuration.md``.

    Args:
        instrumentations: libraries to instrument by short name (``["openai", "anthropic"]``).
            ``AGENTMETRICS_INSTRUMENT`` (comma-separated); default: every installed one.
        service_name: the ``service.name`` resource attribute. ``OTEL_SERVICE_NAME``; default:
            ``unknown_service:`` and the executable's name (``unknown_service:python``).
        capture_content: record prompts and completions: a switch, or ``NO_CONTENT``, ``SPAN_ONLY``,
            ``EVENT_ONLY``, ``SPAN_AND_EVENT``. ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; default: off.
        prometheus: serve ``/metrics``: ``True``, a port, or ``"host:port"``. ``AGENTMETRICS_PROMETHEUS``;
            default: off (where it listens otherwise: ``OTEL_EXPORTER_PROMETHEUS_HOST``/``_PORT``, 127.0.0.1:9464).
        otlp: add the OTLP exporters for traces and metrics (``OTEL_EXPORTER_OTLP_*`` configure them).
            ``AGENTMETRICS_OTLP``; default: off.
        console: also print spans to the console (development). Default: off.
        store: path of the local summary store, or ``False`` for none. ``AGENTMETRICS_STORE``; default:
            ``~/.local/share/otel-agentmetrics/spans.sqlite3``.
        store_retention: how long the store keeps spans: seconds, or ``"12h"``, ``"7d"`` ...
            ``AGENTMETRICS_STORE_RETENTION``; default: ``30d``.
        prices: a TOML or JSON price file whose entries win over genai-prices (docs/pricing.md).
            ``AGENTMETRICS_PRICES``; default: none.
        stream_usage: ask OpenAI-style streams for a usage chunk so streamed calls report tokens.
            ``AGENTMETRICS_STREAM_USAGE``; default: off.
        tools: functions to trace as tools without editing them: the functions, or ``"module:function"`` /
            ``"module:Class.method"`` paths. ``AGENTMETRICS_TOOLS`` (comma-separated); default: none.
        metric_attributes: attribution keys (from :func:`attributes`) also put on metrics.
            ``AGENTMETRICS_METRIC_ATTRIBUTES`` (comma-separated); default: none.
        max_attribute_values: distinct values per metric attribution key before new ones become ``other``.
            ``AGENTMETRICS_MAX_ATTRIBUTE_VALUES``; default: 100.
        process_metrics: the process's own memory, CPU and threads as metrics, and in the local store
            (needs the ``[process]`` extra). ``AGENTMETRICS_PROCESS_METRICS``; default: off.
        raw_errors: record error messages and stacktraces as raised, instead of with credentials masked and
            (content capture off) echoed request content removed. ``AGENTMETRICS_RAW_ERRORS``; default: off.
        cost_attributes: viewers whose own cost attribute each model-call span also carries: ``"mlflow"``
            (``mlflow.llm.cost``), ``"openinference"`` (``llm.cost.total``). ``AGENTMETRICS_COST_ATTRIBUTES``
            (comma-separated); default: none.
        tracer_provider: use this tracer provider; default: the global one if set, else ours.
        meter_provider: use this meter provider; default: the global one if set, else ours.
        logger_provider: the OTel logger provider events go to (``gen_ai.evaluation.result``, and content
            details with ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``); default: the global one.

    Switches, as arguments or variables, read ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``.

    Returns:
        The telemetry every instrumented call reports to.

    Raises:
        ConfigError: an option or variable has a value that cannot work, or an option's name is unknown; the
            one-line message names it and the fix.
    """
    options = dict(locals())  # first statement: exactly the parameters above
    from ._setup import instrument as _instrument

    return _instrument(**options)


_LAZY = {
    "BudgetExceeded": "budgets",
    "agent": "agents",
    "attributes": "attribution",
    "budget": "budgets",
    "carry_context": "_runs",
    "cost": "pricing",
    "estimate": "pricing",
    "operation": "operations",
    "record_evaluation": "evaluations",
    "tool": "tools",
}


def __dir__() -> list[str]:
    # The public names, the lazily loaded ones (tool, agent, budget ...) included, for completion and help().
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


def __getattr__(name: str) -> Any:
    # Tools, agents, attribution and budgets load on first use, so ``import otel_agentmetrics`` stays light.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_agentmetrics' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def uninstrument() -> None:
    """Restore every patched function."""
    from ._setup import uninstrument as _uninstrument

    _uninstrument()


__all__ = [
    "BudgetExceeded",
    "CallRecord",
    "ConfigError",
    "__version__",
    "agent",
    "attributes",
    "budget",
    "carry_context",
    "cost",
    "estimate",
    "instrument",
    "operation",
    "record_evaluation",
    "tool",
    "uninstrument",
]
