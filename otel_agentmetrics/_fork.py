"""Fork safety: what a forked child must not inherit, and children whose exit we cannot see.

``os.fork`` copies memory, not threads. A lock that another thread held at that moment stays held forever in the
child (its first model call would wait on it for good), and the values waiting to be recorded, the calls in
flight and the points already aggregated belong to the parent's calls. Every object of ours with a lock or such
state registers with :func:`reset_in_child`; in each forked child (gunicorn ``--preload``, Celery prefork,
multiprocessing's fork start method) its ``after_fork_in_child()`` runs before the child runs anything else.

multiprocessing children end through ``os._exit``: no ``atexit`` hook runs, and ``Pool.terminate()`` (what
``with Pool() as pool:`` does on leaving) kills idle workers with SIGTERM. In such a child every span is written
to the local store as it ends, and everything else is flushed when the child's own exit handlers run
(``multiprocessing.util.Finalize``), within the shutdown time limit.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Callable
from typing import Any

from ._guard import logger

_objects: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_hooks: list[Callable[[], None]] = []


class _State:
    exit_unseen = False
    """Whether this process is a multiprocessing child (it ends through ``os._exit``)."""


state = _State()


def reset_in_child(obj: Any) -> None:
    """Call ``obj.after_fork_in_child()`` in every forked child while ``obj`` is alive (no reference is kept)."""
    _objects[id(obj)] = obj


def on_fork_in_child(hook: Callable[[], None]) -> Callable[[], None]:
    """Run a module's ``hook`` in every forked child (fresh module-level locks)."""
    _hooks.append(hook)
    return hook


def _after_in_child() -> None:
    for hook in _hooks:
        try:
            hook()
        except Exception:
            logger.debug("otel-agentmetrics: resetting %r after fork failed", hook, exc_info=True)
    for obj in list(_objects.values()):
        try:
            obj.after_fork_in_child()
        except Exception:
            logger.debug("otel-agentmetrics: resetting %r after fork failed", obj, exc_info=True)
    # multiprocessing runs its after-fork callbacks in the child's bootstrap, after this: only its children do.
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        try:
            util.register_after_fork(_MARK, _in_multiprocessing_child)
        except Exception:
            logger.debug("otel-agentmetrics: watching for a multiprocessing child failed", exc_info=True)


class _Mark:
    """What ``multiprocessing.util.register_after_fork`` holds weakly (it needs an object)."""


_MARK = _Mark()


def _in_multiprocessing_child(_: Any) -> None:
    if state.exit_unseen:
        return
    state.exit_unseen = True
    from multiprocessing.util import Finalize

    # Run by the child's own exit path (``util._exit_function``), after the user's finalizers (priority >= 0).
    Finalize(None, _flush_at_exit, exitpriority=-10)


_exit_flush: Callable[[], None] | None = None


def flush_children_with(flush: Callable[[], None]) -> None:
    """What a multiprocessing child runs as it exits: start-up hands in the shutdown of the providers it made
    (handed in rather than imported, so this low-level module imports nothing of ours above it)."""
    global _exit_flush
    _exit_flush = flush


def _flush_at_exit() -> None:
    if _exit_flush is not None:
        _exit_flush()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_in_child)
