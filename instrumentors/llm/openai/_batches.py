"""Batches (``/v1/batches``): each result's usage, counted once, when the results are downloaded.

A batch job's model calls happen on OpenAI's side, hours after ``batches.create``; all the client ever sees of
them is the output file (one JSON line per request: ``custom_id`` and the ``response`` with its ``body``, the
same body the endpoint would have answered) and the error file. So the usage is read where the app reads those
files: ``files.content(file_id)`` (sync and async). A file is a batch's output when its lines have that shape
(``custom_id`` and ``response`` or ``error``); uploading the input file, creating, polling, listing or
cancelling a batch count no tokens. The batch a file belongs to is known when this process saw the batch
(``batches.create``/``retrieve``/``cancel`` return its ``output_file_id`` and ``error_file_id``); otherwise the
file id stands for it.

Each result line becomes one model-call span (chat, Responses, embeddings, legacy completions: read by the same
readers as an interactive call) under one ``batch <id>`` span, with ``agentmetrics.processing=batch`` on the spans
and the metrics and priced at the batch price (genai-prices' ``processing`` context). A batch seen failed,
expired or cancelled gets an error span once. See ``otel_agentmetrics/_groups.py`` for counting once.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._groups import BATCH_CUSTOM_ID, batch_group, ledger, mark_batch
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.record import CallRecord

from ._endpoint import endpoint_of
from ._request import CHAT, COMPLETIONS, EMBEDDINGS, KINDS, RESPONSES
from ._response import READERS

_OPERATIONS = {
    CHAT: sc.OP_CHAT,
    RESPONSES: sc.OP_CHAT,
    EMBEDDINGS: sc.OP_EMBEDDINGS,
    COMPLETIONS: sc.OP_TEXT_COMPLETION,
}
# The body's ``object`` -> endpoint kind, for a file whose batch this process never saw.
_OBJECTS = {"chat.completion": CHAT, "response": RESPONSES, "list": EMBEDDINGS, "text_completion": COMPLETIONS}
_ENDED_BADLY = frozenset({"failed", "expired", "cancelled"})
_KNOWN_LIMIT = 4096


class _Batch:
    __slots__ = ("id", "status", "kind")

    def __init__(self, batch_id: str, status: str | None, kind: int | None) -> None:
        self.id, self.status, self.kind = batch_id, status, kind


_files: OrderedDict[str, _Batch] = OrderedDict()
"""Output and error file id -> the batch it belongs to, from the batch objects this process saw."""


class View:
    """A JSON value read like the client's models (``getattr``), so the interactive readers read batch lines."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return view(self._data.get(name))


def view(value: Any) -> Any:
    if isinstance(value, dict):
        return View(value)
    if isinstance(value, list):
        return [view(item) for item in value]
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def seen_batch(telemetry: Telemetry, client: Any, batch: Any) -> None:
    """A ``Batch`` the client returned: remember its files; report a batch that ended badly, once."""
    batch_id = _text(getattr(batch, "id", None))
    if batch_id is None:
        return
    status = _text(getattr(batch, "status", None))
    kind = KINDS.get(getattr(batch, "endpoint", None) or "")
    if kind is None:
        endpoint = getattr(batch, "endpoint", None)
        kind = KINDS.get(endpoint[3:]) if isinstance(endpoint, str) and endpoint.startswith("/v1") else None
    known = _Batch(batch_id, status, kind)
    for name in ("output_file_id", "error_file_id"):
        file_id = _text(getattr(batch, name, None))
        if file_id is not None:
            _files[file_id] = known
            _files.move_to_end(file_id)
    while len(_files) > _KNOWN_LIMIT:
        _files.popitem(last=False)
    if status in _ENDED_BADLY:
        provider, _, _ = endpoint_of(client)
        counts = getattr(batch, "request_counts", None)
        attrs: dict[str, Any] = {}
        if counts is not None:
            for key, name in ((sc.BATCH_REQUESTS, "total"), (sc.BATCH_FAILED_REQUESTS, "failed")):
                value = getattr(counts, name, None)
                if isinstance(value, int):
                    attrs[key] = value
        mark_batch(telemetry, provider, batch_id, status, attrs)


def read_results(telemetry: Telemetry, client: Any, file_id: Any, content: Any) -> None:
    """The content of a file the app downloaded: if it is a batch's output or error file, record its results."""
    data = _body(content)
    if data is None or not isinstance(file_id, str):
        return
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines or not _is_result(lines[0]):
        return
    parsed = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            return  # not a batch file after all: count nothing rather than part of it
        if not isinstance(item, dict) or "custom_id" not in item:
            return
        parsed.append(item)
    known = _files.get(file_id)
    batch_key = known.id if known is not None else file_id
    provider, address, port = endpoint_of(client)
    fresh = [item for item in parsed if ledger.first(provider, batch_key, str(item.get("custom_id")))]
    if not fresh:
        return  # read before in this process: counted then
    attrs: dict[str, Any] = {"openai.batch.file_id": file_id}
    if known is not None and known.status is not None:
        attrs[sc.BATCH_STATUS] = known.status
    group = batch_group(telemetry, provider, known.id if known is not None else None, attrs)
    capture = telemetry.capture_content
    try:
        for item in fresh:
            record, error = _record(item, known, provider, address, port, capture)
            group.record(record, error)
    finally:
        status = known.status if known is not None else None
        group.end(status if status in _ENDED_BADLY else None)


def _body(content: Any) -> str | None:
    """The downloaded bytes, if the client has read them already (never read here: a streamed download is the
    app's to read)."""
    response = getattr(content, "response", None)
    if response is None or not getattr(response, "is_closed", True):
        return None
    try:
        raw = response.content
    except Exception:
        return None
    if not isinstance(raw, bytes | bytearray) or not raw.lstrip().startswith(b"{"):
        return None
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_result(line: str) -> bool:
    head = line[:4096]
    return '"custom_id"' in head and ('"response"' in line or '"error"' in line)


def _record(
    item: dict[str, Any], known: _Batch | None, provider: str, address: Any, port: Any, capture: bool
) -> tuple[CallRecord, str | None]:
    response = item.get("response")
    body = response.get("body") if isinstance(response, dict) else None
    body = body if isinstance(body, dict) else {}
    kind = known.kind if known is not None and known.kind is not None else None
    if kind is None:
        kind = _OBJECTS.get(body.get("object"), CHAT)  # type: ignore[arg-type]
    model = _text(body.get("model"))
    record = CallRecord(
        _OPERATIONS.get(kind, sc.OP_CHAT),
        provider,
        request_model=model,  # the request's model is in the input file, which is not read: the answer's stands
        server_address=address,
        server_port=port,
        processing=sc.PROCESSING_BATCH,
    )
    record.attributes[BATCH_CUSTOM_ID] = str(item.get("custom_id"))
    error: str | None = None
    status = response.get("status_code") if isinstance(response, dict) else None
    if isinstance(item.get("error"), dict):
        code = item["error"].get("code")
        error = code if isinstance(code, str) and code else "batch_request_error"
    elif isinstance(status, int) and status >= 400:
        failure = body.get("error")
        code = failure.get("code") if isinstance(failure, dict) else None
        error = code if isinstance(code, str) and code else str(status)
    if body:
        try:
            READERS.get(kind, READERS[CHAT])(record, view(body), capture)
        except Exception:
            internal_error("reading a batch result")
    return record, error


def content_hook(telemetry: Telemetry) -> Any:
    def content(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        _after_content(telemetry, instance, args, kwargs, result)
        return result

    return content


def async_content_hook(telemetry: Telemetry) -> Any:
    async def content(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = await wrapped(*args, **kwargs)
        _after_content(telemetry, instance, args, kwargs, result)
        return result

    return content


def _after_content(telemetry: Telemetry, files: Any, args: Any, kwargs: Any, result: Any) -> None:
    try:
        file_id = args[0] if args else kwargs.get("file_id")
        read_results(telemetry, files._client, file_id, result)
    except Exception:
        internal_error("reading a batch's results")


def batch_hook(telemetry: Telemetry) -> Any:
    def batch(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        _after_batch(telemetry, instance, result)
        return result

    return batch


def async_batch_hook(telemetry: Telemetry) -> Any:
    async def batch(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = await wrapped(*args, **kwargs)
        _after_batch(telemetry, instance, result)
        return result

    return batch


def _after_batch(telemetry: Telemetry, batches: Any, result: Any) -> None:
    try:
        if hasattr(result, "output_file_id"):  # a Batch (not a raw response the app parses itself)
            seen_batch(telemetry, batches._client, result)
    except Exception:
        internal_error("reading a batch object")
