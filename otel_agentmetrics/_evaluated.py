"""Recent model calls an evaluation may name by response id (bounded), and what counts as a good answer.

The core notes each model call that ended with a response id; ``record_evaluation(response_id=...)`` finds the
call's span here. Kept apart from :mod:`.evaluations` so the core imports nothing of the public API.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
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


_calls: OrderedDict[str, Evaluated] = OrderedDict()
_lock = threading.Lock()


@_fork.on_fork_in_child
def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


def remember(record: CallRecord, context: SpanContext, scopes: tuple[Any, ...]) -> None:
    """Note a model call that ended with a response id (called by the core; a dict insert under a lock)."""
    if not context.is_valid:
        return
    agent = None
    for scope in scopes:
        agent = scope.span_attributes.get(sc.AGENT_NAME, agent)
    entry = Evaluated(context, record.request_model, record.response_model, record.provider, agent)
    with _lock:
        _calls[record.response_id] = entry  # type: ignore[index]
        if len(_calls) > MAX_REMEMBERED:
            _calls.popitem(last=False)


def evaluated(response_id: str) -> Evaluated | None:
    """The recent model call that returned this response id, if it is still remembered."""
    with _lock:
        return _calls.get(response_id)


def is_good(score: float | None, label: str | None) -> bool | None:
    """Whether an evaluation says the answer was good (``None``: it says neither)."""
    if label is not None:
        return label.strip().lower() in GOOD_LABELS
    if score is not None:
        return score >= 0.5
    return None
