"""Spending limits: stop (or warn) once the model calls inside a block have cost more than a set amount.

Usage::

    try:
        with agentmetrics.budget(usd=0.50):
            run_agent(task)
    except agentmetrics.BudgetExceeded as exceeded:
        print(f"stopped after ${exceeded.spent:.4f}")

The spend is the exact sum of the priced calls' costs (the same numbers as ``gen_ai.usage.cost``), checked after
each call ends. The call that crosses the limit completes (its tokens are already paid for); with
``on_exceed="raise"`` the *next* model call inside the block raises :class:`BudgetExceeded` before its request is
sent, and with ``"warn"`` one warning is logged and calls go on. Calls whose model has no known price cannot be
counted; a warning says so once per budget. Budgets nest; each checks its own limit.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Literal

from . import _fork
from ._context import CallRefused
from ._guard import logger
from ._runs import Run, Scope, Spec
from .record import CallRecord


class BudgetExceeded(CallRefused):
    """A model call was refused because the calls before it inside a ``budget(...)`` block spent more than its
    limit. ``limit`` and ``spent`` are in US dollars; the refused request was never sent."""

    def __init__(self, limit: float, spent: float) -> None:
        self.limit = limit
        self.spent = spent
        super().__init__(
            f"budget of ${_usd(limit)} exceeded: ${spent:.6f} already spent by the model calls in this block; "
            "the next model call was not sent"
        )


def _usd(amount: float) -> str:
    return f"{amount:.2f}" if amount >= 0.01 else f"{amount:.6f}"


class Budget(Scope, Run):
    """The live state of one ``budget(...)`` block."""

    def __init__(self, usd: float, on_exceed: str) -> None:
        self.limit = usd
        self.on_exceed = on_exceed
        self.spent = 0.0
        self.priced_calls = 0
        self.unpriced_calls = 0
        self._warned = False
        self._warned_unpriced = False
        self._lock = threading.Lock()
        self.scope = self
        _fork.reset_in_child(self)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    @property
    def exceeded(self) -> bool:
        return self.spent > self.limit

    @property
    def remaining(self) -> float:
        return max(self.limit - self.spent, 0.0)

    def before_call(self, record: CallRecord) -> None:
        if self.on_exceed == "raise" and self.spent > self.limit:
            raise BudgetExceeded(self.limit, self.spent)

    def after_call(self, record: CallRecord) -> None:
        with self._lock:
            if record.cost is not None:
                self.spent += record.cost
                self.priced_calls += 1
                warn = self.on_exceed == "warn" and self.spent > self.limit and not self._warned
                if warn:
                    self._warned = True
                warn_unpriced = False
            else:
                if record.input_tokens is None and record.output_tokens is None:
                    return
                self.unpriced_calls += 1
                warn, warn_unpriced = False, not self._warned_unpriced
                self._warned_unpriced = True
        if warn:
            logger.warning(
                "otel-agentmetrics: budget of $%s exceeded: $%.6f spent by the model calls in this block",
                _usd(self.limit),
                self.spent,
            )
        if warn_unpriced:
            model = record.response_model or record.request_model
            logger.warning(
                "otel-agentmetrics: a budget cannot count calls to %r, whose price is unknown; add it to a price "
                "file (instrument(prices=...)) so the budget sees its cost",
                model,
            )


class budget(Spec):  # noqa: N801 - used like a function
    """Limit what the model calls inside the block (or the decorated function) may spend, in US dollars.

    Args:
        usd: the limit; the block may spend up to it, and the first call after the spend goes above it is
            refused (``"raise"``) or a warning is logged (``"warn"``).
        on_exceed: ``"raise"`` (default) to raise :class:`BudgetExceeded` before the next model call, or
            ``"warn"`` to log once and carry on.
    """

    def __init__(self, usd: float, on_exceed: Literal["raise", "warn"] = "raise") -> None:
        if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd) or usd < 0:
            raise ValueError(f"budget(usd={usd!r}): give a limit in US dollars, a number >= 0, e.g. usd=0.50")
        if on_exceed not in ("raise", "warn"):
            raise ValueError(f"budget(on_exceed={on_exceed!r}): use 'raise' or 'warn'")
        self.usd = float(usd)
        self.on_exceed = on_exceed

    def _begin(self) -> Any:
        return Budget(self.usd, self.on_exceed)
