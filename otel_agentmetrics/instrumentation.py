"""The base class of our instrumentors: wraps methods by dotted path and undoes exactly what it did.

A subclass lists ``(module, "Class.method", wrapper_factory)`` patches; the base class builds the shared
:class:`Telemetry` (or takes the one ``instrument()`` passes), applies the patches whose targets exist in the
installed version, and restores them on ``uninstrument()``.

Patches are applied when their module is imported, not before: ``instrument()`` must not pay for importing
``openai`` (hundreds of milliseconds) in a program that may import it later or never. A module that is already
imported is patched at once.

The base class keeps OpenTelemetry's ``BaseInstrumentor`` protocol (one instance per class, ``instrument()`` /
``uninstrument()`` with its dependency check and ``skip_dep_check``/``raise_exception_on_conflict``,
``is_instrumented_by_opentelemetry``) without inheriting from it: importing
``opentelemetry.instrumentation.instrumentor`` imports packaging's requirement parser (it compiles dozens of
regular expressions) and the HTTP and database semantic conventions, some 20 ms of CPU that ``instrument()``
would add to every program. It is registered as a virtual subclass of ``BaseInstrumentor`` as soon as that
module is imported, so ``isinstance(instrumentor, BaseInstrumentor)`` holds wherever it can be asked, and
``opentelemetry-instrument`` loads our entry points as any other.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Iterable
from logging import getLogger
from typing import Any, ClassVar

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


_BASE_MODULE = "opentelemetry.instrumentation.instrumentor"
_log = getLogger(_BASE_MODULE)  # where BaseInstrumentor says the same things


class AgentMetricsInstrumentor:
    """Subclasses set ``dependencies`` and implement :meth:`patches`. A ``BaseInstrumentor`` (see the module)."""

    dependencies: Collection[str] = ()
    _instance: ClassVar[Any] = None
    _is_instrumented_by_opentelemetry = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # One instance per class, as BaseInstrumentor: instrument() and uninstrument() may come from different calls.
        instance = cls.__dict__.get("_instance")
        if instance is None:
            instance = object.__new__(cls)
            cls._instance = instance
        return instance

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return self._is_instrumented_by_opentelemetry

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.dependencies

    def instrument(self, **kwargs: Any) -> Any:
        """Instrument the library; ``opentelemetry-instrument`` calls it with no options (BaseInstrumentor's)."""
        if self._is_instrumented_by_opentelemetry:
            _log.warning("Attempting to instrument while already instrumented")
            return None
        skip_dep_check = kwargs.pop("skip_dep_check", False)
        raise_exception_on_conflict = kwargs.pop("raise_exception_on_conflict", False)
        if not skip_dep_check:
            from opentelemetry.instrumentation.dependencies import DependencyConflictError, get_dependency_conflicts

            conflict = get_dependency_conflicts(self.instrumentation_dependencies())
            if conflict:
                if raise_exception_on_conflict:
                    raise DependencyConflictError(conflict)
                format_message = getattr(conflict, "_format_message", None)
                _log.error(format_message(type(self).__name__) if format_message else conflict)
                return None
        self._instrument(**kwargs)
        self._is_instrumented_by_opentelemetry = True
        return None

    def uninstrument(self, **kwargs: Any) -> Any:
        """Undo :meth:`instrument` (BaseInstrumentor's)."""
        if self._is_instrumented_by_opentelemetry:
            self._uninstrument(**kwargs)
            self._is_instrumented_by_opentelemetry = False
            return None
        _log.warning("Attempting to uninstrument while already uninstrumented")
        return None

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


def _register(module: Any) -> None:
    module.BaseInstrumentor.register(AgentMetricsInstrumentor)


register_post_import_hook(_register, _BASE_MODULE)  # now if it is imported already
