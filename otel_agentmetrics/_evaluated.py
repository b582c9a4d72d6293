"""Recent model calls an evaluation may name by response id (bounded), and what counts as a good answer.

The core notes each model call that ended with a response id; ``record_evaluation(response_id=...)`` finds the
call's span here. Kept apart from :mod:`.evaluations` so the core imports nothing of the public API.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, NamedTuple

from opentelemetry.trace import SpanContext

from . import _fork
from . import semconv as sc

if TYPE_CHECKING:
    from .record import CallRecord

MAX_REMEMBERED = 4096
"""Recent model calls whose response id an evaluation can name (bounded: a long-running process keeps the last)."""

GOOD_LABELS = frozenset({"pass", "passed", "good", "correct", "relevant", "yes", "true", "safe", "ok", "accepted"})
"""Labels that count as a good answer (case-insensitive); without a label, a score of 0.5 or more does."""


class Evaluated(NamedTuple):
    """What is kept of a recent model call for the evaluations that may follow."""

    context: SpanContext
    model: str | None  # the request's
    response_model: str | None
    provider: str
    agent: str | None


_HALF = MAX_REMEMBERED // 2
_current: dict[str, Evaluated] = {}
_previous: dict[str, Evaluated] = {}
"""Two generations of plain dicts: a call is one dict insert; when the current one holds half the bound it becomes
the previous one (the older generation is dropped). At most MAX_REMEMBERED calls, at least the last half of them."""
_lock = threading.Lock()


@_fork.on_fork_in_child
def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


def remember(record: CallRecord, context: SpanContext, scopes: tuple[Any, ...]) -> None:
    """Note a model call that ended with a response id: called by the core on every such call, so it is one tuple
    and one dict insert (the rotation takes a lock once every MAX_REMEMBERED / 2 calls)."""
    agent = None
    for scope in scopes:
        agent = scope.span_attributes.get(sc.AGENT_NAME, agent)
    current = _current
    current[record.response_id] = _new(  # type: ignore[index]
        Evaluated, (context, record.request_model, record.response_model, record.provider, agent)
    )
    if len(current) >= _HALF:
        _rotate()


def _rotate() -> None:
    global _current, _previous
    with _lock:
        if len(_current) >= _HALF:
            _previous, _current = _current, {}


_new = tuple.__new__  # builds the NamedTuple without its Python-level __new__


def evaluated(response_id: str) -> Evaluated | None:
    """The recent model call that returned this response id, if it is still remembered."""
    found = _current.get(response_id)
    return found if found is not None else _previous.get(response_id)


def is_good(score: float | None, label: str | None) -> bool | None:
    """Whether an evaluation says the answer was good (``None``: it says neither)."""
    if label is not None:
        return label.strip().lower() in GOOD_LABELS
    if score is not None:
        return score >= 0.5
    return None
