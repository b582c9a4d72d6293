"""Message Batches: each result's usage, counted once, as the app iterates ``messages.batches.results(id)``.

``results()`` returns the SDK's ``JSONLDecoder`` (``AsyncJSONLDecoder``), which streams the results file. The
app gets that very object back; we only give it, before anyone iterates, an iterator that reads each
``MessageBatchIndividualResponse`` as it goes by (the decoder's own ``_iterator``, which ``__iter__`` and
``__next__`` use). Each ``succeeded`` result is one model-call span (its ``Message`` read as an interactive call's
is), an ``errored``/``canceled``/``expired`` one a failed span, all under one ``batch <id>`` span that ends when
the results are exhausted or the decoder is closed or dropped. ``agentmetrics.processing=batch`` prices them at
the batch price. Creating, retrieving, listing or cancelling count nothing; a batch seen ended with expired or
canceled requests gets no extra span (its results say so, one by one).
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._groups import BATCH_CUSTOM_ID, CallGroup, batch_group, ledger
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.record import CallRecord

from ._request import provider_of, server_of
from ._response import fill_message


class _Results:
    """What the iterator needs: the group opened on the first fresh result, the client's endpoint."""

    __slots__ = ("telemetry", "batch_id", "provider", "address", "port", "group")

    def __init__(self, telemetry: Telemetry, client: Any, batch_id: str) -> None:
        self.telemetry = telemetry
        self.batch_id = batch_id
        self.provider = provider_of(client)
        self.address, self.port = server_of(client)
        self.group: CallGroup | None = None

    def take(self, item: Any) -> None:
        try:
            custom_id = getattr(item, "custom_id", None)
            if not ledger.first(self.provider, self.batch_id, str(custom_id)):
                return
            if self.group is None:
                self.group = batch_group(self.telemetry, self.provider, self.batch_id, {})
            record, error = self._record(item, custom_id)
            self.group.record(record, error)
        except Exception:
            internal_error("reading a message batch result")

    def _record(self, item: Any, custom_id: Any) -> tuple[CallRecord, str | None]:
        result = getattr(item, "result", None)
        kind = getattr(result, "type", None)
        message = getattr(result, "message", None) if kind == "succeeded" else None
        model = getattr(message, "model", None)
        record = CallRecord(
            sc.OP_CHAT,
            self.provider,
            request_model=model if isinstance(model, str) else None,  # the request's params are not in the results
            server_address=self.address,
            server_port=self.port,
            processing=sc.PROCESSING_BATCH,
        )
        record.attributes[BATCH_CUSTOM_ID] = str(custom_id)
        if message is not None:
            fill_message(record, message, self.telemetry.capture_content)
            return record, None
        if kind == "errored":
            error = getattr(getattr(result, "error", None), "error", None)
            code = getattr(error, "type", None)
            return record, code if isinstance(code, str) and code else "errored"
        return record, kind if isinstance(kind, str) and kind else "unknown_result"

    def close(self) -> None:
        if self.group is not None:
            self.group.end()


def _watch(results: _Results, iterator: Any) -> Any:
    try:
        for item in iterator:
            results.take(item)
            yield item
    finally:
        results.close()


async def _awatch(results: _Results, iterator: Any) -> Any:
    try:
        async for item in iterator:
            results.take(item)
            yield item
    finally:
        results.close()


def _attach(telemetry: Telemetry, batches: Any, args: Any, kwargs: Any, decoder: Any, is_async: bool) -> None:
    """Give the decoder our reading iterator over its own, if it is the SDK's decoder not yet iterated."""
    try:
        batch_id = args[0] if args else kwargs.get("message_batch_id")
        state = getattr(decoder, "__dict__", None)
        if not isinstance(batch_id, str) or state is None or "_iterator" in state:
            return
        if not hasattr(type(decoder), "_iterator"):
            return  # an SDK release without the decoder's iterator: left alone
        inner = decoder._iterator  # the SDK's own generator (cached on the decoder)
        results = _Results(telemetry, getattr(batches, "_client", None), batch_id)
        state["_iterator"] = _awatch(results, inner) if is_async else _watch(results, inner)
    except Exception:
        internal_error("watching message batch results")


def results_hook(telemetry: Telemetry) -> Any:
    def results(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        decoder = wrapped(*args, **kwargs)
        _attach(telemetry, instance, args, kwargs, decoder, False)
        return decoder

    return results


def async_results_hook(telemetry: Telemetry) -> Any:
    async def results(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        decoder = await wrapped(*args, **kwargs)
        _attach(telemetry, instance, args, kwargs, decoder, True)
        return decoder

    return results
