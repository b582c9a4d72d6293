"""The price index: genai-prices' answers for the models this machine has priced, kept in a small file.

Importing genai-prices (its 1.6 MB table of pydantic models) costs 100-300 ms of CPU, more than the rest of
start-up together, to price a handful of models. The index keeps, per (provider, model, host, service tier) a
process asked about, the answer the table gave: the compiled :class:`Rates` (or "no such model"), the ids it
matched and how long the price holds. A process whose models are all in the index never imports genai-prices; a
model not in it loads the table as before (on the background thread), and its answer is added.

The answers are genai-prices' own, so the index cannot disagree with it; it is tied to the installed data file
(path, size and modification time of ``genai_prices/data.py`` and its package): another genai-prices version,
or a reinstall, starts a new index. A price with an end date (dated and off-peak prices) is used until then only.
A custom snapshot (genai-prices' ``UpdatePrices``) bypasses the index. The file is rewritten whole (to a
temporary file, then renamed), holds at most :data:`MAX_ENTRIES` answers, and anything wrong with it (missing,
unreadable, not ours, another format) only means the table is loaded.

``AGENTMETRICS_PRICE_INDEX``: the file's path; ``0`` (or ``off``/``false``) turns the index off. Default:
``$XDG_CACHE_HOME/otel-agentmetrics/price-index.json`` (``~/.cache/...``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import threading
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Final

from ._rates import Price, Rates

if TYPE_CHECKING:
    from ._table import TableModel

FORMAT: Final = 1
MAX_ENTRIES: Final = 2048
"""Answers kept; past it new ones are used in this process only (a flood of made-up model names)."""
_KINDS: Final = ("input", "output", "cache_read", "cache_write", "reasoning")
_OFF: Final = frozenset({"0", "off", "false", "no"})

MISSING: Final[Any] = object()
"""``get``: the index has no answer for this question."""


class Hit:
    """One answer of the table, as the index keeps it."""

    __slots__ = ("provider_id", "model_id", "rates", "expires")

    def __init__(self, provider_id: str, model_id: str, rates: Rates, expires: float) -> None:
        self.provider_id, self.model_id, self.rates, self.expires = provider_id, model_id, rates, expires


def index_path() -> str | None:
    """Where the index lives (``AGENTMETRICS_PRICE_INDEX``), or ``None`` when it is turned off."""
    setting = os.environ.get("AGENTMETRICS_PRICE_INDEX")
    if setting is not None:
        setting = setting.strip()
        return None if setting.lower() in _OFF or not setting else setting
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "otel-agentmetrics", "price-index.json")


def table_identity() -> list[Any] | None:
    """What identifies the installed genai-prices data, read without importing it; ``None`` if not installed."""
    try:
        spec = find_spec("genai_prices")
        if spec is None or not spec.origin:
            return None
        package = os.path.dirname(spec.origin)
        data, init = os.stat(os.path.join(package, "data.py")), os.stat(spec.origin)
    except (ImportError, ValueError, OSError):
        return None
    return [FORMAT, package, data.st_size, data.st_mtime_ns, init.st_size, init.st_mtime_ns]


def _key(provider: str | None, model: str, server_address: str | None, service_tier: str | None) -> str:
    return "\x1f".join((provider or "", model, server_address or "", service_tier or ""))


def _price_to_json(price: Price | None) -> Any:
    return list(price) if isinstance(price, tuple) else price  # tiers: [base, [[start, price], ...]]


def _price_from_json(value: Any) -> Price | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    base, tiers = value
    return (float(base), tuple((int(start), float(price)) for start, price in tiers))


class PriceIndex:
    """The index of one process: read once when the pricer is built, written when an answer is added."""

    def __init__(self, path: str, identity: list[Any]) -> None:
        self.path = path
        self.identity = identity
        self.source = ""
        """``genai-prices==<version>``, as the process that wrote the answers loaded it."""
        self._entries: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._read()

    @classmethod
    def open(cls) -> PriceIndex | None:
        """The index, or ``None`` when it is turned off or genai-prices is not installed."""
        path = index_path()
        identity = table_identity() if path is not None else None
        if path is None or identity is None:
            return None
        return cls(path, identity)

    def _read(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as file:
                content = json.load(file)
            if content.get("identity") != self.identity or not isinstance(content.get("entries"), dict):
                return  # another genai-prices (or not our file): start afresh
            source = content.get("source")
            if isinstance(source, str):
                self.source = source
                self._entries = content["entries"]
        except Exception:
            self._entries = {}  # missing, unreadable or broken: the table answers, and a new index is written

    @property
    def usable(self) -> bool:
        """Whether answers can come from here without the table (answers, and no custom snapshot in use)."""
        return bool(self._entries and self.source) and not _custom_snapshot()

    def get(self, provider: str | None, model: str, server_address: str | None, service_tier: str | None) -> Any:
        """The :class:`Hit`, ``None`` (the table knows no such model) or :data:`MISSING` (ask the table)."""
        if not self.source or _custom_snapshot():
            return MISSING
        entry = self._entries.get(_key(provider, model, server_address, service_tier), MISSING)
        if entry is MISSING or entry is None:
            return entry
        try:
            provider_id, model_id, prices, per_request, expires = entry
            expires = math.inf if expires is None else float(expires)
            if expires <= _now():
                return MISSING  # a dated price may have changed: the table says which is in force
            kinds = dict(zip(_KINDS, (_price_from_json(p) for p in prices), strict=True))
            rates = Rates(**kinds, per_request=float(per_request))
            return Hit(str(provider_id), str(model_id), rates, expires)
        except Exception:
            return MISSING  # an entry of another shape: not believed

    def put(
        self,
        provider: str | None,
        model: str,
        server_address: str | None,
        service_tier: str | None,
        found: TableModel | None,
        source: str,
    ) -> None:
        """Keep the table's answer (``None``: no such model) and write the file. Never raises."""
        if _custom_snapshot():
            return  # not the installed data's answer
        entry: Any = None
        if found is not None:
            rates = found.rates
            prices = [_price_to_json(getattr(rates, kind)) for kind in _KINDS]
            expires = None if found.expires == math.inf else found.expires
            entry = [found.provider_id, found.model_id, prices, rates.per_request, expires]
        with self._lock:
            if self.source != source:
                self._entries, self.source = {}, source
            if len(self._entries) >= MAX_ENTRIES:
                return
            self._entries[_key(provider, model, server_address, service_tier)] = entry
            content = {"identity": self.identity, "source": source, "entries": dict(self._entries)}
        self._write(content)

    def _write(self, content: dict[str, Any]) -> None:
        try:
            folder = os.path.dirname(self.path) or "."
            os.makedirs(folder, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".price-index-", dir=folder)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    json.dump(content, file, separators=(",", ":"))
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
        except Exception:
            pass  # a read-only or full disk: this process keeps its answers in memory


def _custom_snapshot() -> bool:
    """Whether the user replaced genai-prices' data (``UpdatePrices``): then its answers may differ from ours."""
    snapshot = sys.modules.get("genai_prices.data_snapshot")
    return snapshot is not None and getattr(snapshot, "_custom_snapshot", None) is not None


def _now() -> float:
    import time

    return time.time()
