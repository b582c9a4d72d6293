"""The base class of our instrumentors: wraps methods by dotted path and undoes exactly what it did.

A subclass lists ``(module, "Class.method", wrapper_factory)`` patches; the base class builds the shared
:class:`Telemetry` (or takes the one ``instrument()`` passes), applies the patches whose targets exist in the
installed version, and restores them on ``uninstrument()``.

Patches are applied when their module is imported, not before: ``instrument()`` must not pay for importing
``openai`` (hundreds of milliseconds) in a program that may import it later or never. A module that is already
imported is patched at once.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Iterable
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from wrapt import FunctionWrapper, register_post_import_hook

from . import _config
from ._coexist import client_package, coexistence
from ._config import Settings, resolve
from ._guard import logger
from ._telemetry import Telemetry

_shared: dict[tuple[int, int], Telemetry] = {}


def shared_telemetry(settings: Settings, tracer_provider: Any, meter_provider: Any) -> Telemetry:
    """One Telemetry (instruments, pricer, warnings) for all instrumentors loaded by ``opentelemetry-instrument``,
    which instruments each entry point on its own."""
    key = (id(tracer_provider), id(meter_provider))
    if key not in _shared:
        from ._setup import build_telemetry

        _shared[key] = build_telemetry(settings, tracer_provider, meter_provider)
        _shared[key].pricer.start_loading()
    return _shared[key]


Patch = tuple[str, str, Callable[..., Any]]
"""``(module, "Class.method", wrapper)``: the wrapper is a ``wrapt`` wrapper function."""


class AgentMetricsInstrumentor(BaseInstrumentor):
    """Subclasses set ``dependencies`` and implement :meth:`patches`."""

    dependencies: Collection[str] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.dependencies

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        self._active = False  # a subclass that extends this checks it: nothing was set up when it stays False
        settings: Settings | None = kwargs.get("settings")
        if settings is None:
            if _config.startup_error is not None:
                return  # opentelemetry-instrument with a bad setting: the configurator has said which, once
            settings = resolve()
        telemetry: Telemetry = kwargs.get("telemetry") or shared_telemetry(
            settings, kwargs.get("tracer_provider"), kwargs.get("meter_provider")
        )
        self._applied: list[tuple[Any, str, Any]] = []
        self._generation = getattr(self, "_generation", 0) + 1
        generation = self._generation
        patches = list(self.patches(telemetry, settings))
        # Another GenAI instrumentation of the same client stands down while ours is active (see _coexist).
        self._packages = sorted({client_package(module_name) for module_name, _, _ in patches})
        for package in self._packages:
            coexistence.own(package)
        for module_name, path, wrapper in patches:
            if module_name in sys.modules:
                self._apply(module_name, path, wrapper)
            else:
                register_post_import_hook(self._deferred(generation, module_name, path, wrapper), module_name)
        self._active = True

    def _deferred(
        self, generation: int, module_name: str, path: str, wrapper: Callable[..., Any]
    ) -> Callable[[Any], None]:
        def on_import(module: Any) -> None:
            # Import hooks cannot be removed: a hook left from before uninstrument() does nothing.
            if self._generation == generation and self._is_instrumented_by_opentelemetry:
                coexistence.stand_down(client_package(module_name))
                self._apply(module_name, path, wrapper)

        return on_import

    def _apply(self, module_name: str, path: str, wrapper: Callable[..., Any]) -> None:
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, attribute = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        except (ImportError, AttributeError, KeyError):
            logger.debug("otel-agentmetrics: %s.%s not found in this version; not patched", module_name, path)
            return
        setattr(owner, attribute, FunctionWrapper(original, wrapper))
        self._applied.append((owner, attribute, original))

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, attribute, original in reversed(getattr(self, "_applied", [])):
            setattr(owner, attribute, original)
        self._applied = []
        self._generation = getattr(self, "_generation", 0) + 1
        for package in getattr(self, "_packages", ()):
            coexistence.release(package)
        self._packages = []
