"""One owner per model call when another GenAI instrumentation patches the same client library: ours.

The rule: while one of our instrumentors is active for a client package (``openai``, ``anthropic``, ...), the
patches another GenAI instrumentation put on that package's model-call methods are taken off, so each call gives
one span (ours, with tokens and cost) and token/duration metrics are counted once. Taking theirs off rather than
suppressing it per call keeps the hot path as it is: the decision is made when something patches, never when a
call runs. Both orders are covered: patches already present are taken off when ours are applied, and an
instrumentation that patches after ours (``opentelemetry-instrument`` loads entry points in no fixed order, or
``logfire.instrument_openai()`` after ``instrument()``) is caught when its ``instrument()`` returns. Their patches
on other methods (images, assistants, files) stay. ``uninstrument()`` puts theirs back.

Known instrumentations: the OpenTelemetry contrib GenAI packages (``opentelemetry-instrumentation-openai-v2``,
``-anthropic``, ``-vertexai``, ``-google-genai``), OpenLLMetry's (``opentelemetry-instrumentation-openai``,
``-anthropic``, ...), OpenLIT and Logfire's ``instrument_openai``/``instrument_anthropic``. Each is named once in
a warning with the switch that silences it. A wrapper from anywhere else (the user's own, an error tracker's) is
left alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import wrapt

from ._guard import internal_error, logger

_METHODS = ("create", "parse", "stream", "request", "_request", "generate_content", "generate_content_stream")
"""The methods through which a model call passes: resource methods (contrib, OpenLLMetry, OpenLIT), the client's
``request`` (Logfire, and ours for ``openai``) and Google's ``generate_content``."""


def client_package(module: str) -> str:
    """The package whose classes are scanned for a patch in ``module``: its top level, or two levels in the
    ``google`` namespace (``google.genai``, ``google.cloud``), which holds far more than one client."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "google" and len(parts) > 1 else parts[0]

_BASE_MODULE = "opentelemetry.instrumentation.instrumentor"

_SKIPPED_SUBPACKAGES = (".types", "._models", "._utils")
"""Modules of a client package that hold only data classes: not scanned."""


def _foreign_name(module: str) -> tuple[str, str] | None:
    """``(instrumentation, how to turn it off)`` for a wrapper defined in ``module``, or ``None`` if it is not a
    GenAI instrumentation we know."""
    if module.startswith("opentelemetry.instrumentation."):
        short = module.split(".")[2]
        if short == "openai_v2":
            # Its entry point is named "openai", as OpenLLMetry's is.
            return "opentelemetry-instrumentation-openai-v2", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai"
        if short in _OTEL_GENAI:
            package = "opentelemetry-instrumentation-" + short.replace("_", "-")
            return package, f"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS={short} (or leave {package} out)"
        return None
    if module.startswith("openlit."):
        return "OpenLIT", "openlit.init(disabled_instrumentors=[...])"
    if module.startswith("logfire."):
        return "Logfire (logfire.instrument_openai/instrument_anthropic)", "do not call logfire.instrument_<provider>()"
    return None


_OTEL_GENAI = frozenset(
    {
        "openai",
        "anthropic",
        "vertexai",
        "google_genai",
        "groq",
        "mistralai",
        "cohere",
        "ollama",
        "bedrock",
        "together",
        "replicate",
    }
)
"""``opentelemetry.instrumentation.<name>`` packages that trace model calls (contrib and OpenLLMetry share the
namespace). ``botocore`` is not here: its spans cover every AWS call, not only Bedrock's."""


def _wrapper_module(value: Any) -> str:
    """The module that defined a patch: read from the function's globals, since ``functools.wraps`` (Logfire's
    patch uses it) copies the wrapped function's ``__module__``."""
    function = value._self_wrapper if isinstance(value, wrapt.FunctionWrapper) else value
    namespace = getattr(function, "__globals__", None)
    if isinstance(namespace, dict):
        return str(namespace.get("__name__") or "")
    return ""


class _Peeled:
    """One foreign layer taken off ``owner.attribute``: enough to put it back."""

    __slots__ = ("owner", "attribute", "layer")

    def __init__(self, owner: Any, attribute: str, layer: Any) -> None:
        self.owner, self.attribute, self.layer = owner, attribute, layer

    def restore(self) -> None:
        if isinstance(self.layer, wrapt.FunctionWrapper):
            # Wrap whatever is there now (the original, once ours is gone): their unwrap() still works.
            current = _own(self.owner, self.attribute)
            if current is not None:
                setattr(self.owner, self.attribute, wrapt.FunctionWrapper(current, self.layer._self_wrapper))
        else:
            setattr(self.owner, self.attribute, self.layer)


def _own(owner: Any, attribute: str) -> Any:
    """``owner``'s own attribute, not an inherited one."""
    return (vars(owner) if isinstance(owner, type) else getattr(owner, "__dict__", {})).get(attribute)


def _any_foreign_loaded() -> bool:
    """Whether any known GenAI instrumentation is imported at all: if none is, there is nothing to scan."""
    modules = sys.modules
    return any(name in modules for name in _FOREIGN_MODULES)


_FOREIGN_MODULES = (
    *(f"opentelemetry.instrumentation.{name}" for name in sorted(_OTEL_GENAI | {"openai_v2"})),
    "openlit",
    "logfire._internal.integrations.llm_providers.llm_provider",
)


class Coexistence:
    """The client packages we own and the foreign layers taken off them."""

    def __init__(self) -> None:
        self.owned: dict[str, int] = {}
        self.peeled: dict[str, list[_Peeled]] = {}
        self.warned: set[tuple[str, str]] = set()
        self._hooks: list[tuple[Any, str, Any]] = []
        self._base_awaited = False

    # ours --------------------------------------------------------------------------------------------------------
    def own(self, package: str) -> None:
        """An instrumentor of ours now patches ``package``: take theirs off it and watch for later ones."""
        self.owned[package] = self.owned.get(package, 0) + 1
        self._watch()
        self.stand_down(package)

    def release(self, package: str) -> None:
        """An instrumentor of ours was removed (its patches are already undone): put theirs back."""
        count = self.owned.get(package, 0) - 1
        if count > 0:
            self.owned[package] = count
            return
        self.owned.pop(package, None)
        for peeled in reversed(self.peeled.pop(package, [])):
            try:
                peeled.restore()
            except Exception:
                internal_error("putting another instrumentation's patch back")
        if not self.owned:
            self._unwatch()

    # theirs ------------------------------------------------------------------------------------------------------
    def stand_down(self, package: str, extra: Iterable[Any] = ()) -> None:
        """Take every known foreign layer off ``package``'s model-call methods (and off ``extra`` objects, the
        client instances Logfire patches one by one)."""
        try:
            if not _any_foreign_loaded():
                return
            for owner in [*self._classes(package), *extra]:
                for attribute in _METHODS:
                    self._peel(package, owner, attribute)
        except Exception:
            internal_error("taking another instrumentation's patch off")

    def _classes(self, package: str) -> list[type]:
        # Runs once per client package at every instrument(), over every loaded module's name (thousands in a
        # large app): the names are filtered in one comprehension, not a loop of Python statements.
        prefix = package + "."
        modules = sys.modules
        names = [name for name in list(modules) if name.startswith(prefix) or name == package]
        classes: list[type] = []
        for name in names:
            module = modules.get(name)
            if module is None or any(part in name for part in _SKIPPED_SUBPACKAGES):
                continue
            # ``type()``, not ``isinstance``: the latter asks a lazy proxy for its ``__class__``, and openai's
            # module-level clients (``openai.chat`` ...) then import every resource module (seconds of CPU).
            classes.extend(
                value
                for value in list(vars(module).values())
                if issubclass(type(value), type) and value.__module__ == name
            )
        return classes

    def _peel(self, package: str, owner: Any, attribute: str) -> None:
        while True:
            layer = _own(owner, attribute)
            if layer is None:
                return
            foreign = _foreign_name(_wrapper_module(layer))
            if foreign is None:
                return
            inner = getattr(layer, "__wrapped__", None)
            inherited = isinstance(owner, type) and any(attribute in vars(base) for base in owner.__mro__[1:])
            if isinstance(layer, wrapt.FunctionWrapper) and inner is not None:
                setattr(owner, attribute, inner)
            elif inherited or not isinstance(owner, type):
                delattr(owner, attribute)  # Logfire's patch shadows the inherited method: fall back to it
            elif inner is not None:
                setattr(owner, attribute, inner)
            else:
                return
            self.peeled.setdefault(package, []).append(_Peeled(owner, attribute, layer))
            self._warn(package, *foreign)

    def _warn(self, package: str, name: str, switch: str) -> None:
        if (name, package) in self.warned:
            return
        self.warned.add((name, package))
        logger.warning(
            "otel-agentmetrics: %s also instruments %s; its spans and metrics for %s model calls are turned off so "
            "that each call is recorded once, by otel-agentmetrics (with cost). To silence this: %s; to keep "
            "theirs instead, leave %s out of ours (AGENTMETRICS_INSTRUMENT, or "
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=agentmetrics_%s)",
            name,
            package,
            package,
            switch,
            package,
            package,
        )

    # hooks: an instrumentation that patches after ours -------------------------------------------------------------
    def _watch(self) -> None:
        if self._hooks or self._base_awaited:
            return
        # Another OpenTelemetry instrumentation is a BaseInstrumentor: none can exist before its module is imported,
        # and importing it only to watch would cost start-up some 20 ms (instrumentation.py).
        self._base_awaited = True
        wrapt.register_post_import_hook(self._hook_base, _BASE_MODULE)  # at once if imported already
        wrapt.register_post_import_hook(self._hook_logfire, "logfire._internal.integrations.llm_providers.llm_provider")

    def _hook_base(self, module: Any) -> None:
        # Hooks cannot be removed: one from before the last _unwatch() finds nothing owned.
        self._base_awaited = False
        base = module.BaseInstrumentor
        if self.owned and not any(owner is base for owner, _, _ in self._hooks):
            self._hook(base, "instrument", self._after_instrument)
            self._hook(base, "uninstrument", self._after_uninstrument)

    def _hook(self, owner: Any, attribute: str, wrapper: Callable[..., Any]) -> None:
        original = vars(owner)[attribute]
        setattr(owner, attribute, wrapt.FunctionWrapper(original, wrapper))
        self._hooks.append((owner, attribute, original))

    def _hook_logfire(self, module: Any) -> None:
        if self.owned and not any(owner is module for owner, _, _ in self._hooks):
            self._hook(module, "instrument_llm_provider", self._after_logfire)

    def _unwatch(self) -> None:
        for owner, attribute, original in reversed(self._hooks):
            setattr(owner, attribute, original)
        self._hooks.clear()
        # A hook still awaiting BaseInstrumentor's module stays registered: _watch() must not add a second one.

    def _after_instrument(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        if _foreign_name(type(instance).__module__) is not None:
            for package in list(self.owned):
                self.stand_down(package)
        return result

    def _after_uninstrument(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        """Their own ``uninstrument()`` while theirs is off: forget their layers, or ours would put them back."""
        result = wrapped(*args, **kwargs)
        module = type(instance).__module__
        if _foreign_name(module) is not None:
            prefix = ".".join(module.split(".")[:3])
            for package, layers in self.peeled.items():
                self.peeled[package] = [
                    p for p in layers if not (_wrapper_module(p.layer) + ".").startswith(prefix + ".")
                ]
        return result

    def _after_logfire(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            client = args[1] if len(args) > 1 else kwargs.get("client")
            clients = client if isinstance(client, list | tuple) else [client]
            instances = [c for c in clients if c is not None and not isinstance(c, type)]
        except Exception:
            internal_error("reading the client Logfire instrumented")
            instances = []
        for package in list(self.owned):
            self.stand_down(package, [c for c in instances if client_package(type(c).__module__) == package])
        return result


coexistence = Coexistence()
