"""Instrumentors loaded when their library starts to be imported, not by ``instrument()``.

With every extra installed, loading all instrumentors at start-up imports some 150 modules of ours, and their
import, garbage collection and teardown cost a process tens of milliseconds of CPU for libraries it may never
import. So ``instrument()`` loads at once only the instrumentors whose library is already imported, and for the
others puts a :class:`Watch` first on ``sys.meta_path``. The watch finds nothing itself: for each import it looks
the name up among the packages of ``_registry.LIBRARIES`` still waiting, and when one of them starts to be
imported it loads and instruments that package's instrumentors, before the package's first line runs. That is
what ``instrument()`` would have done earlier, and the patches are applied exactly as then: each one when its
module is imported (``instrumentation.py``).

A ``find_spec`` for one of the packages without importing it (``importlib.util.find_spec("openai")``, as libraries
do to see what is installed) loads its instrumentors too: only earlier than needed. ``uninstrument()`` stops the
watch; whatever was still waiting is forgotten.

While an instrumentor waits, its packages count as ours for ``_coexist`` (another GenAI instrumentation whose
``instrument()`` imports the library, and so loads ours, is still taken off once it returns).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import _fork
from ._coexist import coexistence
from ._guard import internal_error


class Watch:
    """The instrumentors of one ``instrument()`` waiting for their packages, and those it loaded.

    Args:
        load: loads and instruments the instrumentor of a short name (``openai``); ``None`` if it was not loaded.
    """

    def __init__(self, load: Callable[[str], Any]) -> None:
        self._load = load
        self._waiting: dict[str, list[str]] = {}
        """Package -> short names of the instrumentors its import loads."""
        self._packages: dict[str, tuple[str, ...]] = {}
        """Short name -> its packages, while it waits."""
        self._loaded: list[Any] = []
        self._stopped = False
        self._lock = threading.Lock()
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    @property
    def waiting(self) -> list[str]:
        """Short names still waiting for their package."""
        return sorted(self._packages)

    def add(self, name: str, packages: tuple[str, ...]) -> None:
        """Load ``name``'s instrumentor when one of ``packages`` starts to be imported."""
        with self._lock:
            self._packages[name] = packages
            for package in packages:
                self._waiting.setdefault(package, []).append(name)
        for package in packages:
            coexistence.own(package)

    def start(self) -> None:
        """Watch imports from now on (first on ``sys.meta_path``, before the finders that find modules)."""
        if self._packages and self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        """Never finds: loads the instrumentors waiting for ``fullname``, then lets the import go on."""
        if fullname in self._waiting:  # the only work done for every other import
            self._on_import(fullname)
        return None

    def _on_import(self, package: str) -> None:
        # No change to sys.meta_path here: the import system is iterating over it.
        with self._lock:
            names = self._waiting.pop(package, [])
            released = {name: self._packages.pop(name) for name in names if name in self._packages}
            for name, packages in released.items():
                for other in packages:
                    rest = self._waiting.get(other)
                    if rest is not None and name in rest:
                        rest.remove(name)
                        if not rest:
                            del self._waiting[other]
        for name, packages in released.items():
            try:
                instrumentor = self._load(name)
            except Exception:
                internal_error(f"loading the {name} instrumentor")
                instrumentor = None
            if instrumentor is not None:
                with self._lock:
                    stopped = self._stopped
                    if not stopped:
                        self._loaded.append(instrumentor)
                if stopped:  # uninstrument() ran while it loaded
                    _undo(instrumentor)
            for each in packages:
                coexistence.release(each)  # the instrumentor now counts for itself, if it was loaded

    def stop(self) -> list[Any]:
        """Stop watching; returns the instrumentors loaded so far (for ``uninstrument()`` to undo)."""
        with self._lock:
            self._stopped = True
            pending = list(self._packages.values())
            self._packages.clear()
            self._waiting.clear()
            loaded, self._loaded = self._loaded, []
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        for packages in pending:
            for package in packages:
                coexistence.release(package)
        return loaded


def _undo(instrumentor: Any) -> None:
    try:
        instrumentor.uninstrument()
    except Exception:
        internal_error("uninstrumenting an instrumentor loaded during uninstrument()")
