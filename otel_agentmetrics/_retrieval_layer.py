"""The wrappers every store and retriever integration uses: one small ``describe`` and ``read`` per method.

An integration in ``instrumentors/retrieval/`` lists the methods to patch and, for each, two small functions:

- ``describe(instance, args, kwargs) -> RetrievalRecord | None``: the request (operation, store, collection,
  ``top_k``, query text...). ``None`` leaves the call alone (no span).
- ``read(record, result, capture) -> None`` (optional): the result into the record (``returned_rows``, and
  ``documents`` only when ``capture`` is true). It must not change or consume the result.

Both run under the fail-open guard: if they raise, the call proceeds untouched and only that part of the
telemetry is lost. The call runs with its span current, and an instrumented store call inside it (a framework
retriever over an instrumented store) folds into it: one span per retrieval (see :mod:`otel_agentmetrics.retrieval`).

Usage (a whole store integration)::

    def _query(collection, args, kwargs):
        return RetrievalRecord(sc.OP_RETRIEVAL, sc.DB_CHROMA, collection.name, "query", top_k=kwargs.get("n_results"))

    def _rows(record, result, capture):
        record.returned_rows = len(result["ids"][0])

    yield "chromadb.api.models.Collection", "Collection.query", sync_wrapper(telemetry, _query, _rows)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._guard import internal_error
from ._telemetry import Telemetry
from .retrieval import RetrievalCall, RetrievalRecord, nesting, open_retrieval

Describe = Callable[[Any, tuple[Any, ...], dict[str, Any]], RetrievalRecord | None]
"""``(instance, args, kwargs) -> record``: the request; ``None`` leaves the call alone."""
Read = Callable[[RetrievalRecord, Any, bool], None]
"""``(record, result, capture)``: the result into the record, without changing or consuming it."""
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _describe(describe: Describe, instance: Any, args: Any, kwargs: Any) -> RetrievalRecord | None:
    try:
        return describe(instance, args, kwargs)
    except Exception:
        internal_error(f"reading a store request ({getattr(describe, '__qualname__', describe)})")
        return None


def _read(read: Read | None, record: RetrievalRecord, result: Any, capture: bool) -> None:
    if read is None:
        return
    try:
        read(record, result, capture)
    except Exception:
        internal_error(f"reading a store result ({getattr(read, '__qualname__', read)})")


def _fold(outer: RetrievalCall, describe: Describe, read: Read | None, instance: Any, args: Any, kwargs: Any,
          result: Any, depth: int) -> None:  # fmt: skip
    record = _describe(describe, instance, args, kwargs)
    if record is not None:
        _read(read, record, result, outer.telemetry.capture_content)
        outer.absorb(record, depth)


def sync_wrapper(telemetry: Telemetry, describe: Describe, read: Read | None = None) -> Wrapper:
    """A ``wrapt`` wrapper that runs a synchronous store or retriever method as one store operation."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        outer = open_retrieval()
        if outer is not None:  # inside another layer's operation: no span of our own, our details fold into it
            depth = nesting.get() + 1
            token = nesting.set(depth)
            try:
                result = wrapped(*args, **kwargs)
            finally:
                nesting.reset(token)
            _fold(outer, describe, read, instance, args, kwargs, result, depth)
            return result
        record = _describe(describe, instance, args, kwargs)
        if record is None:
            return wrapped(*args, **kwargs)
        call = RetrievalCall(telemetry, record)
        tokens = call.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.deactivate(tokens)
            call.fail(error, (args, kwargs))
            raise
        call.deactivate(tokens)
        _read(read, record, result, telemetry.capture_content)
        call.end()
        return result

    return traced


def async_wrapper(telemetry: Telemetry, describe: Describe, read: Read | None = None) -> Wrapper:
    """The asynchronous twin of :func:`sync_wrapper` (only the call line differs)."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        outer = open_retrieval()
        if outer is not None:
            depth = nesting.get() + 1
            token = nesting.set(depth)
            try:
                result = await wrapped(*args, **kwargs)
            finally:
                nesting.reset(token)
            _fold(outer, describe, read, instance, args, kwargs, result, depth)
            return result
        record = _describe(describe, instance, args, kwargs)
        if record is None:
            return await wrapped(*args, **kwargs)
        call = RetrievalCall(telemetry, record)
        tokens = call.activate()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.deactivate(tokens)
            call.fail(error, (args, kwargs))
            raise
        call.deactivate(tokens)
        _read(read, record, result, telemetry.capture_content)
        call.end()
        return result

    return traced
