"""Logfire beside us: our spans and metrics reach Logfire's pipeline whichever of the two is set up first.

- ``logfire.configure()`` first: Logfire's providers are the global ones, and ``instrument()`` reuses them as it
  reuses any provider already set.
- ``instrument()`` first: the OpenTelemetry API lets the global providers be set only once, so Logfire cannot
  replace the ones we created ("Overriding of current TracerProvider is not allowed"). We watch for Logfire's
  global configuration instead: when ``logfire.configure()`` returns, every setup that reports to providers we
  created switches its tracer and instruments to Logfire's, so later calls reach Logfire's processors and metric
  readers. Other libraries that took the global provider before keep ours (configure Logfire first to avoid
  that). A local Logfire (``configure(local=True)``) is not the global one and takes nothing.

Spans that go to Logfire get the attributes its UI lists LLM calls by (the ``LLM`` tag of its own OpenAI and
Anthropic integrations, a message template); ``operation.cost``, its cost attribute, is on every model span anyway.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from . import semconv as sc
from ._guard import internal_error

if TYPE_CHECKING:
    from ._telemetry import Telemetry

_CONFIG_MODULE = "logfire._internal.config"
TAGS = "logfire.tags"
MESSAGE_TEMPLATE = "logfire.msg_template"
_LLM_TAGS = ("LLM",)
_TEMPLATE_WITH_MODEL = f"{{{sc.OPERATION_NAME}}} {{{sc.REQUEST_MODEL}}}"  # renders as our span name
_TEMPLATE = f"{{{sc.OPERATION_NAME}}}"

_lock = threading.Lock()
_followers: list[tuple[Telemetry, bool, bool]] = []
_state: dict[str, Any] = {}


def is_logfire(provider: object) -> bool:
    """Whether a tracer or meter provider is Logfire's (read without importing Logfire)."""
    return type(provider).__module__.startswith("logfire.")


class LogfireTracer:
    """Passes every span to Logfire's tracer, adding the tag and message template its UI shows LLM calls by to
    model-call spans (``CLIENT`` spans). Only setups reporting to Logfire use it: other backends pay nothing."""

    __slots__ = ("tracer",)

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: dict[str, Any] | None = None,
        links: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if kind is SpanKind.CLIENT and attributes is not None and sc.OPERATION_NAME in attributes:
            attributes = {
                **attributes,
                TAGS: _LLM_TAGS,
                MESSAGE_TEMPLATE: _TEMPLATE_WITH_MODEL if sc.REQUEST_MODEL in attributes else _TEMPLATE,
            }
        return self.tracer.start_span(name, context, kind, attributes, links, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tracer, name)


def follow(telemetry: Telemetry, tracer: bool, meter: bool) -> None:
    """Move ``telemetry`` to Logfire's providers when Logfire's global configuration is set up later: its tracer
    if ``tracer`` (we created its tracer provider), its instruments if ``meter``. Nothing is imported here: the
    watch starts when Logfire is imported, and at once if it already is."""
    if not (tracer or meter):
        return
    with _lock:
        _followers.append((telemetry, tracer, meter))
        if _state.get("watching"):
            return
        _state["watching"] = True
    from wrapt import register_post_import_hook

    register_post_import_hook(_watch, _CONFIG_MODULE)


def stop() -> None:
    """``uninstrument()``: no setup follows Logfire any more, and its ``configure`` is restored."""
    with _lock:
        _followers.clear()
        patched = _state.pop("patched", None)
        _state["watching"] = False
    if patched is not None:
        owner, original = patched
        owner.configure = original


def _watch(module: Any) -> None:
    with _lock:
        if "patched" in _state or not _state.get("watching"):
            return  # already watching, or uninstrumented before Logfire was imported
        try:
            owner = module.LogfireConfig
            original = owner.__dict__["configure"]
        except (AttributeError, KeyError):
            from ._guard import logger

            logger.debug("otel-agentmetrics: this Logfire has no LogfireConfig.configure; configure Logfire first")
            return
        from wrapt import FunctionWrapper

        owner.configure = FunctionWrapper(original, _after_configure(module))
        _state["patched"] = (owner, original)


def _after_configure(module: Any) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        if instance is not None and instance is module.__dict__.get("GLOBAL_CONFIG"):
            try:
                _hand_over(instance)
            except Exception:
                internal_error("moving our telemetry to Logfire's providers")
        return result

    return wrapper


def _hand_over(config: Any) -> None:
    tracer_provider, meter_provider = config.get_tracer_provider(), config.get_meter_provider()
    with _lock:
        followers = list(_followers)
        _followers.clear()  # Logfire's proxies follow its own reconfigurations from now on
    for telemetry, tracer, meter in followers:
        telemetry.use_providers(tracer_provider if tracer else None, meter_provider if meter else None)
