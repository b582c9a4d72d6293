"""``instrument()`` and ``uninstrument()``: providers, exporters and instrumentors in one call."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider

from . import _active, _exporters, _fork, _logfire, _on_import, _registry, pricing
from ._config import ConfigError, Settings, resolve
from ._guard import internal_error
from ._installed import installed, unmet
from ._telemetry import Telemetry
from .exporters.delivery import adopt_pipeline

if TYPE_CHECKING:
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

    from .instrumentation import AgentMetricsInstrumentor

logger = logging.getLogger("otel_agentmetrics")

_lock = threading.Lock()


@_fork.on_fork_in_child
def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()
_instrumentors: list[AgentMetricsInstrumentor | BaseInstrumentor] = []
_owned_providers: list[Any] = []
_state: dict[str, Any] = {}


_UNSET = (
    trace.ProxyTracerProvider,
    trace.NoOpTracerProvider,
    metrics_api._ProxyMeterProvider,
    metrics.NoOpMeterProvider,
)
"""The API's own placeholders. Anything else was set by someone (the SDK, Logfire, a vendor) and is reused: by
type, not by name, since Logfire's providers are also called ``ProxyTracerProvider``/``ProxyMeterProvider``."""


def _is_configured(provider: object) -> bool:
    return not isinstance(provider, _UNSET)


def configure_providers(settings: Settings) -> tuple[Any, Any]:
    """Reuse the tracer/meter providers already set (by the user, Logfire, opentelemetry-instrument), or
    create ours from the settings and the ``OTEL_*`` variables. Nothing is added twice."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    # Readers first: a Prometheus port that is taken fails start-up before any global provider is set.
    readers = None if _is_configured(meter_provider) else _exporters.metric_readers(settings)
    if readers is None and settings.metrics_exporters and meter_provider not in _owned_providers:
        logger.warning(
            "otel-agentmetrics: a MeterProvider is already set, so metric exporters %s are not added; "
            "give that provider the readers instead (docs/operations.md)",
            ", ".join(settings.metrics_exporters),
        )
    _state["shutdown_timeout"] = settings.shutdown_timeout
    if not _is_configured(tracer_provider):
        resource = _resource(settings)
        try:
            processors = _exporters.span_processors(settings)
        except Exception:
            _exporters.close_readers(readers or [])  # start-up failed as a whole: free the Prometheus port
            raise
        # Our own exit hook flushes it, within a time limit; the SDK's would wait on a hung collector.
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
        trace.set_tracer_provider(tracer_provider)
        _owned_providers.append(tracer_provider)
    if readers is not None:
        meter_provider = MeterProvider(resource=_resource(settings), metric_readers=readers, shutdown_on_exit=False)
        metrics.set_meter_provider(meter_provider)
        _owned_providers.append(meter_provider)
    adopt_pipeline(tracer_provider, meter_provider)  # our own drop counters, created while the providers are up
    if _owned_providers and not _state.get("atexit"):
        atexit.register(_shutdown_owned)
        _state["atexit"] = True
    return tracer_provider, meter_provider


def _resource(settings: Settings) -> Resource:
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself.
    attributes = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
    return Resource.create(attributes)


def _shutdown_owned() -> None:
    """Flush and stop the providers we created, so short scripts lose no spans, within a time limit so a hung
    collector cannot hold the process."""
    from .exporters.delivery import give_up_refused_destinations, shutdown_within

    give_up_refused_destinations()  # a collector that refuses connections gets no wait (nor its export in flight)
    if not shutdown_within(reversed(_owned_providers), _state.get("shutdown_timeout", 5.0)):
        from .summary.exporter import mark_stopped_now

        mark_stopped_now()  # the store's own shutdown may be queued behind a hung destination
    _owned_providers.clear()


_fork.flush_children_with(_shutdown_owned)  # a multiprocessing child, which leaves through os._exit, flushes too


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    logger_provider: Any = None,
    **options: Any,
) -> Telemetry:
    """Instrument every supported library that is installed and set up tracing and metrics.

    Call once at start-up, before creating clients. See ``docs/configuration.md`` for every option and its
    environment variable. A second call is harmless: it returns the telemetry of the first.

    Raises:
        ConfigError: a setting has a value that cannot work; the message names it and the fix.
    """
    with _lock:
        if "telemetry" in _state:
            return _state["telemetry"]
        settings = resolve(**options)
        if settings.process_metrics:
            from . import process_metrics

            process_metrics.check_installed()  # ConfigError before any provider or patch
        if tracer_provider is None or meter_provider is None:
            own_tracer, own_meter = configure_providers(settings)
            tracer_provider = tracer_provider or own_tracer
            meter_provider = meter_provider or own_meter
        telemetry = build_telemetry(settings, tracer_provider, meter_provider)
        telemetry.logger_provider = logger_provider
        _load_completion_hook(telemetry)
        try:  # a pipeline someone else built counts its losses too
            adopt_pipeline(
                tracer_provider or trace.get_tracer_provider(), meter_provider or metrics.get_meter_provider()
            )
        except Exception:
            internal_error("counting the losses of the configured pipeline")
        if settings.tools:
            from .tools import wrap_tools

            _state["tools"] = wrap_tools(settings.tools)  # ConfigError for a bad path, before any patching
        _instrument_libraries(settings, telemetry, tracer_provider, meter_provider)
        if settings.process_metrics:
            from . import process_metrics

            try:
                _instrumentors.append(process_metrics.start(meter_provider))
            except Exception:
                internal_error("starting the process metrics")
        # genai-prices loads on a background thread (pricing/_pricer.py), started last so that its imports do
        # not compete with ours for the GIL while instrument() runs.
        telemetry.pricer.start_loading()
        _state["telemetry"] = telemetry
        _state["settings"] = settings
        _active.use(telemetry)
        pricing.use_pricer(telemetry.pricer)
        return telemetry


def build_telemetry(settings: Settings, tracer_provider: Any, meter_provider: Any) -> Telemetry:
    pricer = pricing.Pricer(settings.prices, index=True)  # ConfigError for a bad price file, at start-up
    telemetry = Telemetry(tracer_provider, meter_provider, settings.capture, pricer, settings.raw_errors)
    telemetry.labels.configure(settings.metric_attributes, settings.max_attribute_values)
    if settings.cost_attributes:
        from ._viewers import cost_attributes

        telemetry.cost_attributes = cost_attributes(settings.cost_attributes)
    # Providers we created give way to Logfire's if it is configured later (see _logfire).
    _logfire.follow(
        telemetry,
        tracer=_is_owned(tracer_provider or trace.get_tracer_provider()),
        meter=_is_owned(meter_provider or metrics.get_meter_provider()),
    )
    return telemetry


def _load_completion_hook(telemetry: Telemetry) -> None:
    """The content upload hook, when ``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK`` names one (see _upload)."""
    from . import _upload

    hook = _upload.load(telemetry)
    if hook is not None:
        _state["completion_hook"] = hook


def _is_owned(provider: object) -> bool:
    return any(provider is owned for owned in _owned_providers)


def _instrument_libraries(settings: Settings, telemetry: Telemetry, tracer_provider: Any, meter_provider: Any) -> None:
    """Instrument every wanted library: now if it is imported (or named in ``instrumentations``), else when it is
    (``_on_import``)."""
    packages = installed()
    found = _registry.available(packages)
    wanted = settings.instrumentations
    if wanted is not None:
        unknown = sorted(set(wanted) - set(found))
        if unknown:
            raise ConfigError(
                f"instrumentations: unknown name(s) {', '.join(unknown)}; use some of {', '.join(sorted(found))}"
            )

    def load(name: str) -> AgentMetricsInstrumentor | None:
        try:
            instrumentor = found[name].load()()
            conflict = unmet(tuple(instrumentor.instrumentation_dependencies()), packages)
        except Exception:
            logger.debug("otel-agentmetrics: %s instrumentor not loaded", name, exc_info=True)
            return None
        if conflict is not None:
            log = logger.warning if wanted is not None else logger.debug
            log("otel-agentmetrics: not instrumenting %s: %s", name, conflict)
            return None
        instrumentor.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            telemetry=telemetry,
            settings=settings,
            skip_dep_check=True,  # checked above; the check reads package metadata, which is slow
        )
        return instrumentor

    waiting: list[tuple[str, tuple[str, ...]]] = []
    for name in sorted(found):
        if wanted is not None and name not in wanted:
            continue
        libraries = _registry.LIBRARIES.get(name)
        # Named ones load now, so that a version conflict is reported by instrument() itself.
        if wanted is None and libraries and not any(library in sys.modules for library in libraries):
            waiting.append((name, libraries))
            continue
        instrumentor = load(name)
        if instrumentor is not None:
            _instrumentors.append(instrumentor)
    watch = _on_import.Watch(load)
    for name, libraries in waiting:
        watch.add(name, libraries)
    watch.start()
    _state["watch"] = watch


def uninstrument() -> None:
    """Restore every patched function. Providers stay as they are (spans already recorded still export)."""
    with _lock:
        watch = _state.pop("watch", None)
        if watch is not None:
            _instrumentors.extend(watch.stop())  # loaded on import: after those loaded by instrument()
        for instrumentor in reversed(_instrumentors):
            try:
                instrumentor.uninstrument()
            except Exception:
                logger.debug("uninstrumenting %r failed", instrumentor, exc_info=True)
        _instrumentors.clear()
        for undo in reversed(_state.pop("tools", ())):
            undo()
        _active.use(None)
        pricing.use_pricer(None)
        _logfire.stop()
        ended = _state.pop("telemetry", None)
        if ended is not None:  # its waiting points now, and any call still in flight when it ends
            ended.metrics.retire()
        _state.pop("settings", None)
        hook = _state.pop("completion_hook", None)
        if hook is not None:
            from . import _upload

            _upload.shutdown(hook)
