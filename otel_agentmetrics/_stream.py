"""The one stream proxy: the user sees the same chunks, in the same order, with the same types.

A provider adapter supplies a :class:`StreamAccumulator` that reads each chunk; the proxy times the chunks and
ends the call exactly once, whether the stream is exhausted, closed, left by ``break`` and garbage-collected,
exited from a ``with`` block, or broken by an exception (the user's error always wins).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

import wrapt

from ._guard import internal_error
from ._telemetry import Call
from .record import CallRecord


class StreamAccumulator(Protocol):
    """Reads the chunks of one provider's stream and fills the record at the end.

    An accumulator with a true ``reads_later`` attribute has its chunks handed to ``add`` in batches (every
    :data:`KEEP` chunks, and at the end), not one by one as they pass: the user's loop then pays one list
    append per chunk, and reading many chunks in a row is cheaper than interleaving it with the client's own
    parsing. Only for chunks that are fresh objects the client does not reuse, and when ``add`` never hides one.
    """

    def add(self, chunk: Any) -> bool:
        """Take one chunk; return False to hide it from the user (a usage chunk we asked for ourselves)."""
        ...

    def finish(self, record: CallRecord) -> None:
        """Fill the record's response and usage fields from what was seen."""
        ...


KEEP = 64
"""Chunks kept for a ``reads_later`` accumulator before they are read: bounds what a long stream holds."""


def _read_kept(accumulator: StreamAccumulator, kept: list[Any]) -> None:
    add = accumulator.add
    for chunk in kept:
        try:
            add(chunk)
        except Exception:
            internal_error("reading a stream chunk")
    kept.clear()


class _StreamState:
    """The end-once logic both proxies share."""

    @staticmethod
    def end(call: Call, accumulator: StreamAccumulator, error: BaseException | None, kept: list[Any]) -> None:
        if call.ended:
            return
        if kept:
            _read_kept(accumulator, kept)
        try:
            accumulator.finish(call.record)
        except Exception:
            internal_error("finishing a stream")
        if error is None:
            call.end()
        else:
            call.fail(error)


# The per-chunk path is inlined in both proxies (it runs once per streamed chunk): stamp the arrival time on the
# call's list without a Python-level call, then let the accumulator read the chunk.
_now = time.perf_counter


class SyncStreamProxy(wrapt.ObjectProxy):
    """Wraps a synchronous stream (an iterator, usually also a context manager with ``close()``)."""

    def __init__(self, wrapped: Any, call: Call, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        self._self_next = wrapped.__next__ if hasattr(type(wrapped), "__next__") else iter(wrapped).__next__
        self._self_stamp = call._chunk_times.append
        self._self_add = accumulator.add
        self._self_kept: list[Any] = []
        self._self_later = getattr(accumulator, "reads_later", False) is True

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                chunk = self._self_next()
            except StopIteration:
                _StreamState.end(self._self_call, self._self_accumulator, None, self._self_kept)
                raise
            except BaseException as error:
                _StreamState.end(self._self_call, self._self_accumulator, error, self._self_kept)
                raise
            self._self_stamp(_now())
            if self._self_later:
                kept = self._self_kept
                kept.append(chunk)
                if len(kept) >= KEEP:
                    _read_kept(self._self_accumulator, kept)
                return chunk
            try:
                if self._self_add(chunk):
                    return chunk
            except Exception:
                internal_error("reading a stream chunk")
                return chunk

    def __enter__(self) -> SyncStreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, exc, self._self_kept)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, None, self._self_kept)

    def _self_end(self, error: BaseException | None = None) -> None:
        """End the call now with what was seen (for wrappers that close the stream behind the proxy's back)."""
        _StreamState.end(self._self_call, self._self_accumulator, error, self._self_kept)

    def __del__(self) -> None:
        # An unconsumed stream dropped by the user still ends its span, with what was seen.
        with contextlib.suppress(Exception):
            _StreamState.end(self._self_call, self._self_accumulator, None, self._self_kept)


class AsyncStreamProxy(wrapt.ObjectProxy):
    """Wraps an asynchronous stream (an async iterator, usually also an async context manager)."""

    def __init__(self, wrapped: Any, call: Call, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        self._self_anext = wrapped.__anext__ if hasattr(type(wrapped), "__anext__") else wrapped.__aiter__().__anext__
        self._self_stamp = call._chunk_times.append
        self._self_add = accumulator.add
        self._self_kept: list[Any] = []
        self._self_later = getattr(accumulator, "reads_later", False) is True

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                chunk = await self._self_anext()
            except StopAsyncIteration:
                _StreamState.end(self._self_call, self._self_accumulator, None, self._self_kept)
                raise
            except BaseException as error:
                _StreamState.end(self._self_call, self._self_accumulator, error, self._self_kept)
                raise
            self._self_stamp(_now())
            if self._self_later:
                kept = self._self_kept
                kept.append(chunk)
                if len(kept) >= KEEP:
                    _read_kept(self._self_accumulator, kept)
                return chunk
            try:
                if self._self_add(chunk):
                    return chunk
            except Exception:
                internal_error("reading a stream chunk")
                return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(exc_type, exc, tb)) if exit_ is not None else None
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, exc, self._self_kept)

    async def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None) or self.__wrapped__.aclose
            await close()
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, None, self._self_kept)

    async def aclose(self) -> None:
        await self.close()

    def _self_end(self, error: BaseException | None = None) -> None:
        """End the call now with what was seen (for wrappers that close the stream behind the proxy's back)."""
        _StreamState.end(self._self_call, self._self_accumulator, error, self._self_kept)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _StreamState.end(self._self_call, self._self_accumulator, None, self._self_kept)
