"""Scopes that watch the model calls made inside them (agent runs, attributes, budgets).

The core asks the active scopes before each model call (a budget may refuse it) and tells them after
(an agent run adds up tokens and dollars). Scopes live in a ContextVar so they follow threads started with
``contextvars.copy_context`` and asyncio tasks.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .record import CallRecord


class CallRefused(Exception):
    """Raised by a scope's ``before_call`` to stop a model call before it is sent (see budgets)."""


class CallScope(Protocol):
    """Something that wants to see model calls made while it is active."""

    span_attributes: dict[str, Any]
    """Added to every span started inside the scope (e.g. ``user``/``feature`` attribution)."""

    def before_call(self, record: CallRecord) -> None:
        """Called before the request is sent; may raise to refuse the call (budgets)."""

    def after_call(self, record: CallRecord) -> None:
        """Called once the call has ended, with usage, cost and error filled."""


active_scopes: ContextVar[tuple[CallScope, ...]] = ContextVar("agentmetrics_active_scopes", default=())
