"""Turns a call's token usage into dollars. (Placeholder until the price table lands.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..record import CallRecord


@dataclass(frozen=True, slots=True)
class Cost:
    usd: float
    source: str


class Pricer:
    """Prices a finished call record; ``None`` when the model has no known price."""

    def price(self, record: CallRecord) -> Cost | None:
        return None
