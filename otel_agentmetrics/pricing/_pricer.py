"""The :class:`Pricer`: a call record in, its cost out, in about a microsecond once its model has been seen.

The price table (genai-prices) loads on a background thread started by ``instrument()`` (and the
``opentelemetry-instrument`` distro), so neither the import nor ``instrument()`` pays for it. A call that ends
while the table is still loading (only possible in the first moments after start-up; the load takes about 20 ms
when the client library has already imported pydantic, a few hundred without) waits for it at most
:data:`LOAD_WAIT` seconds; if the table is still not there, that one call carries no cost and is not counted as
unpriced either. Prices from the user's price file need no table and are never delayed. A Pricer built by hand,
whose loading nobody started, loads the table on its first lookup instead.

Each (provider, response model, request model, host, service tier) is resolved once and cached; the cached
entry holds float rates, so a warm lookup is one dictionary get and a few multiplications.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ._index import MISSING, PriceIndex
from ._matching import model_names, provider_names
from ._overrides import Overrides, load_overrides
from ._rates import Cost, Rates

if TYPE_CHECKING:
    from ..record import CallRecord
    from ._table import PriceTable, TableModel

logger = logging.getLogger("otel_agentmetrics")

LOAD_WAIT: Final = 0.5
"""Seconds a call ending during the table's background load may wait for it."""
_CACHE_LIMIT: Final = 4096
# Service tiers change OpenAI's prices (flex is half price, priority more); the OpenAI instrumentor records them.
_RESPONSE_TIER: Final = "openai.response.service_tier"
_REQUEST_TIER: Final = "openai.request.service_tier"
SOURCE_OVERRIDE: Final = "override"


class PriceTableLoading(Exception):
    """The price table was still loading after :data:`LOAD_WAIT`: this call's cost is unknown, not missing."""


@dataclass(slots=True)
class Quote:
    """The price the SDK uses for one model, and where it comes from."""

    rates: Rates
    source: str
    """``genai-prices==<version>`` or ``override``."""
    model: str
    """The model name that was priced."""
    provider: str | None
    """The provider whose price it is (genai-prices' id, or the price file's ``provider``)."""
    matched: str
    """The genai-prices model id, or the price file entry (``file:line``)."""
    expires: float = math.inf
    table_model: TableModel | None = None

    def current(self, now: float) -> Rates:
        """The rates in force at ``now`` (dated and off-peak prices change)."""
        if now >= self.expires and self.table_model is not None:
            self.rates = self.table_model.refresh(now)
            self.expires = self.table_model.expires
        return self.rates


_UNKNOWN: Final = Quote(Rates(), "", "", None, "")


_FORK_WAIT_S = 10.0


def _finish_before_fork(ref: weakref.ref[Pricer]) -> None:
    """Let a load in progress finish before the process forks (bounded). The loader thread imports modules; a
    fork in the middle leaves the child with those modules' import locks held by a thread it does not have
    (CPython resets only the global import lock), and the child's first import of one of them hangs for good."""
    pricer = ref()
    if pricer is not None and pricer._loading and not pricer._loaded.is_set():
        pricer._loaded.wait(_FORK_WAIT_S)


def _restart_in_child(ref: weakref.ref[Pricer]) -> None:
    """A process forked while the table was loading (gunicorn ``--preload``) has no loader thread: start one."""
    pricer = ref()
    if pricer is not None and not pricer._loaded.is_set():
        pricer._loaded = threading.Event()
        pricer._start_lock = threading.Lock()
        pricer._loading = pricer._waited = False
        pricer.start_loading()


class Pricer:
    """Prices finished call records: overrides from the user's price file first, then genai-prices.

    Args:
        prices: a TOML or JSON price file (``instrument(prices=...)``); read and checked here, so a mistake raises
            :class:`~otel_agentmetrics.ConfigError` at start-up.
        index: answer from the price index (``_index.py``) where it can, and load the table only for a model
            it does not hold; ``instrument()``'s pricer does.
    """

    def __init__(self, prices: str | os.PathLike[str] | None = None, index: bool = False) -> None:
        self.overrides: Overrides = load_overrides(prices)
        self._index: PriceIndex | None = None
        if index:
            try:
                self._index = PriceIndex.open()
            except Exception:
                logger.debug("otel-agentmetrics: price index not read", exc_info=True)
        self._deferred = False
        self._table: PriceTable | None = None
        self._loaded = threading.Event()
        self._loading = False
        self._waited = False
        self._start_lock = threading.Lock()
        self._cache: dict[tuple[object, ...], Quote] = {}

    # Loading -----------------------------------------------------------------------------------------------

    def start_loading(self) -> None:
        """Load the price table on another thread; instrument() and the distro call it once they are set up.
        With a usable price index the load waits until a model the index does not hold is priced."""
        if self._index is not None and self._index.usable and not self._loaded.is_set():
            self._deferred = True
            return
        self._start_thread()

    def _start_thread(self) -> None:
        if self._claim_load():
            # Not a daemon: a daemon thread still validating the table (pydantic-core, Rust) when the interpreter
            # exits is torn down mid-call and aborts the process ("FATAL: exception not rethrown"). A short
            # script that exits at once waits for the load instead (tens of milliseconds).
            threading.Thread(target=self._load, name="agentmetrics-prices", daemon=False).start()
            if hasattr(os, "register_at_fork"):
                ref = weakref.ref(self)
                os.register_at_fork(
                    before=functools.partial(_finish_before_fork, ref),
                    after_in_child=functools.partial(_restart_in_child, ref),
                )

    def load(self) -> PriceTable | None:
        """Load the price table now, or wait for the background load (CLI, :func:`cost`); ``None`` if it failed."""
        if self._claim_load():
            self._load()
        self._loaded.wait()
        return self._table

    @property
    def ready(self) -> bool:
        return self._loaded.is_set()

    def _claim_load(self) -> bool:
        with self._start_lock:
            if self._loading:
                return False
            self._loading = True
            return True

    def _load(self) -> None:
        try:
            from ._table import PriceTable

            self._table = PriceTable()
        except Exception:
            # A script that ends during the load: the interpreter's exit (which stops the main thread first)
            # refuses new thread pools, and importing genai-prices can need one (its pydantic schemas load
            # pydantic's plugins, e.g. Logfire's, whose import builds a Resource). No price is needed any more.
            exiting = not threading.main_thread().is_alive()
            (logger.debug if exiting else logger.warning)(
                "otel-agentmetrics: could not load the genai-prices table; only your price file's prices apply",
                exc_info=True,
            )
        finally:
            self._loaded.set()

    def _table_within(self, wait: float | None) -> PriceTable | None:
        if self._loaded.is_set():
            return self._table
        if self._deferred:
            # A model the price index does not hold: the load instrument() deferred starts now, on its thread, and
            # this call waits for it as any call ending during the background load does.
            self._deferred = False
            self._start_thread()
        elif self._claim_load():
            # Nobody started a background load (a Pricer built by hand, not by instrument()): load here, once.
            self._load()
            return self._table
        if wait is None:
            self._loaded.wait()
        elif self._waited or not self._loaded.wait(wait):
            self._waited = True  # one bounded wait per process at most, however long the load takes
            raise PriceTableLoading
        return self._table

    # Pricing -----------------------------------------------------------------------------------------------

    def price(self, record: CallRecord) -> Cost | None:
        """The record's cost, or ``None`` when its model has no known price.

        Raises:
            PriceTableLoading: the call ended in the first moments after start-up and the table is not loaded yet.
        """
        attributes = record.attributes
        tier = (attributes.get(_RESPONSE_TIER) or attributes.get(_REQUEST_TIER)) if attributes else None
        if tier is not None and not isinstance(tier, str):
            tier = None
        processing = record.processing
        key = (record.provider, record.response_model, record.request_model, record.server_address, tier, processing)
        quote = self._cache.get(key)
        if quote is None or (quote.table_model is None and quote.expires != math.inf and time.time() >= quote.expires):
            # (the second case: a dated price from the index, past its end: the table says which price is in force)
            names = model_names(record.response_model, record.request_model)
            service_tier = tier if tier != "auto" else None
            quote = self._quote(record.provider, names, record.server_address, service_tier, LOAD_WAIT, processing)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()  # model names are few; this only guards against a flood of made-up ones
            self._cache[key] = quote
        if quote is _UNKNOWN:
            return None
        details = record.usage_details
        if details and quote.table_model is None and quote.source != SOURCE_OVERRIDE:
            # An index answer has no table model to price audio, image... apart: ask the table (cached once).
            names = model_names(record.response_model, record.request_model)
            service_tier = tier if tier != "auto" else None
            quote = self._quote(
                record.provider, names, record.server_address, service_tier, LOAD_WAIT, processing, use_index=False
            )
            self._cache[key] = quote
            if quote is _UNKNOWN:
                return None
        if details and quote.table_model is not None:
            usd = quote.table_model.usd_with_details(record, details, time.time())
            return None if usd is None else Cost(usd, quote.source)
        rates = quote.rates if quote.expires == math.inf else quote.current(time.time())
        usd = rates.usd(
            record.input_tokens or 0,
            record.output_tokens or 0,
            record.cache_read_input_tokens or 0,
            record.cache_creation_input_tokens or 0,
            record.reasoning_output_tokens or 0,
        )
        return Cost(usd, quote.source)

    def quote(
        self,
        model: str,
        provider: str | None = None,
        server_address: str | None = None,
        service_tier: str | None = None,
        processing: str | None = None,
    ) -> Quote | None:
        """The price the SDK would use for ``model`` (loading the table first if needed); ``None`` if unknown.
        Without ``provider``, genai-prices guesses it from the model's name. ``processing="batch"`` gives the batch
        price where genai-prices has one."""
        quote = self._quote(provider, model_names(model, None), server_address, service_tier, None, processing)
        return None if quote is _UNKNOWN else quote

    def _quote(
        self,
        provider: str | None,
        names: tuple[str, ...],
        server_address: str | None,
        service_tier: str | None,
        wait: float | None,
        processing: str | None = None,
        use_index: bool = True,
    ) -> Quote:
        providers = provider_names(provider)
        for name in names:
            override = self.overrides.find(providers, name)
            if override is not None:
                return Quote(override.rates, SOURCE_OVERRIDE, name, override.provider or provider, override.where)
        if not names:
            return _UNKNOWN
        # The index holds interactive per-token rates only: batch prices and per-modality usage need the table.
        index = self._index if use_index and processing is None else None
        table: PriceTable | None = None
        for name in names:
            if index is not None:
                hit = index.get(provider, name, server_address, service_tier)
                if hit is None:
                    continue  # the table knows no such model
                if hit is not MISSING:
                    return Quote(hit.rates, index.source, name, hit.provider_id, hit.model_id, hit.expires)
            if table is None:
                table = self._table_within(wait)
                if table is None:
                    return _UNKNOWN
            found = table.find(provider, name, server_address, service_tier, processing)
            if index is not None:
                index.put(provider, name, server_address, service_tier, found, table.source)
            if found is not None:
                return Quote(found.rates, table.source, name, found.provider_id, found.model_id, found.expires, found)
        return _UNKNOWN
