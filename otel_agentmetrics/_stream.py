"""The one stream proxy: the user sees the same chunks, in the same order, with the same types.

A provider adapter supplies a :class:`StreamAccumulator` that reads the chunks; the proxy times the chunks and
ends the call exactly once, whether the stream is exhausted, closed, left by ``break`` and garbage-collected,
exited from a ``with`` block, or broken by an exception (the user's error always wins).

An accumulator reads each chunk as it passes (``add``), or, when it has a ``pending`` list, reads them in
batches (:class:`BatchedAccumulator`): the proxy only appends each chunk to the list, and the accumulator reads
up to :data:`PENDING_CHUNKS` at a time and at the end. Why: a field of a client's chunk object costs hundreds of
instructions to read (pydantic models answer attributes through a ``__getattr__`` hook), and most of a stream's
fields need not be read at all (usage and finish reasons sit in the last chunks, ids in the first), so reading
in batches, from either end, reads a few fields a stream instead of five a chunk.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator
from typing import Any, Protocol, cast

import wrapt

from ._guard import internal_error
from ._telemetry import Call
from .record import CallRecord


class StreamAccumulator(Protocol):
    """Reads the chunks of one provider's stream and fills the record at the end."""

    def add(self, chunk: Any) -> bool:
        """Take one chunk; return False to hide it from the user (a usage chunk we asked for ourselves)."""
        ...

    def finish(self, record: CallRecord) -> None:
        """Fill the record's response and usage fields from what was seen."""
        ...


class BatchedAccumulator(Protocol):
    """An accumulator that reads chunks in batches: the proxy appends every chunk to ``pending`` and calls
    ``take`` when :data:`PENDING_CHUNKS` are waiting; ``finish`` takes what is left."""

    pending: list[Any]

    def take(self) -> None:
        """Read the chunks in ``pending`` (in order, as if each had been added) and empty it."""
        ...

    def finish(self, record: CallRecord) -> None:
        """Fill the record's response and usage fields (the proxy has taken every pending chunk first)."""
        ...


Accumulator = StreamAccumulator | BatchedAccumulator
"""What a proxy reads its chunks with: a batched accumulator (one that has a ``pending`` list) needs no ``add``."""

PENDING_CHUNKS = 128
"""Chunks a batched accumulator holds before it reads them: bounds the memory a long stream keeps alive."""


def _take(accumulator: Any) -> None:
    try:
        accumulator.take()
    except Exception:
        internal_error("reading stream chunks")
    accumulator.pending.clear()


class _StreamState:
    """The end-once logic both proxies share."""

    @staticmethod
    def end(call: Call, accumulator: Accumulator, error: BaseException | None) -> None:
        if call.ended:
            return
        if getattr(accumulator, "pending", None):
            _take(accumulator)
        try:
            accumulator.finish(call.record)
        except Exception:
            internal_error("finishing a stream")
        if error is None:
            call.end()
        else:
            call.fail(error)


_now = time.perf_counter


# The per-chunk path runs once per streamed chunk, so it touches no attribute of the proxy: every name is a local
# or cell variable. A sync stream is iterated through a generator (resuming one costs less than a method call
# through the proxy), an async one through a coroutine built per chunk by a closure.


def _sync_chunks(source: Iterator[Any], call: Call, accumulator: Accumulator) -> Generator[Any, None, None]:
    """The chunks the user sees. Ends the call when the stream is exhausted or raises, and when this iterator is
    closed or collected midway (the user left the loop), whoever held it last (the proxy, or a ``for`` loop that
    holds only the iterator): with what was seen. The proxy primes it (runs it to the first ``yield``), so that
    one never read at all ends its call too when collected (Python closes only a started generator)."""
    stamp = call._chunk_times.append
    pending = getattr(accumulator, "pending", None)
    try:
        yield None  # the priming step
        if type(pending) is list:  # read in batches: one append per chunk, no method call
            keep = pending.append
            for chunk in source:  # the client's own iterator, resumed directly (no method call per chunk)
                stamp(_now())
                keep(chunk)
                if len(pending) >= PENDING_CHUNKS:
                    _take(accumulator)
                yield chunk
        else:
            add = cast(StreamAccumulator, accumulator).add
            for chunk in source:
                stamp(_now())
                try:
                    shown = add(chunk)
                except Exception:
                    internal_error("reading a stream chunk")
                    shown = True
                if shown:
                    yield chunk
    except GeneratorExit:
        _StreamState.end(call, accumulator, None)
        raise
    except BaseException as error:
        _StreamState.end(call, accumulator, error)
        raise
    _StreamState.end(call, accumulator, None)


def _calls(next_chunk: Any) -> Iterator[Any]:
    """An iterator over a stream that has ``__next__`` but no ``__iter__``."""
    while True:
        try:
            chunk = next_chunk()
        except StopIteration:
            return
        yield chunk


def _async_step(next_chunk: Any, call: Call, accumulator: Accumulator) -> Any:
    stamp = call._chunk_times.append
    pending = getattr(accumulator, "pending", None)
    if type(pending) is list:
        keep = pending.append

        async def batched_step() -> Any:
            try:
                chunk = await next_chunk()
            except StopAsyncIteration:
                _StreamState.end(call, accumulator, None)
                raise
            except BaseException as error:
                _StreamState.end(call, accumulator, error)
                raise
            stamp(_now())
            keep(chunk)
            if len(pending) >= PENDING_CHUNKS:
                _take(accumulator)
            return chunk

        return batched_step
    add = cast(StreamAccumulator, accumulator).add

    async def step() -> Any:
        while True:
            try:
                chunk = await next_chunk()
            except StopAsyncIteration:
                _StreamState.end(call, accumulator, None)
                raise
            except BaseException as error:
                _StreamState.end(call, accumulator, error)
                raise
            stamp(_now())
            try:
                if add(chunk):
                    return chunk
            except Exception:
                internal_error("reading a stream chunk")
                return chunk

    return step


class _Missing:
    """A proxy method the wrapped stream lacks: reading it raises ``AttributeError``, as on the stream itself, so
    the proxy answers exactly what the stream answers (``hasattr``, ``with``, ``aclose()`` ...)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        raise AttributeError(f"{type(instance.__wrapped__).__name__!r} object has no attribute {self.name!r}")


_variants: dict[tuple[type, type], type] = {}


def _variant(proxy: type, stream: type) -> type:
    """``proxy`` without the optional methods (``_OPTIONAL``) that the ``stream`` type lacks, made once per pair."""
    found = _variants.get((proxy, stream))
    if found is None:
        missing = {name: _Missing(name) for name in proxy._OPTIONAL if not hasattr(stream, name)}  # type: ignore[attr-defined]
        found = type(proxy.__name__, (proxy,), {"__module__": proxy.__module__, "__slots__": (), **missing})
        found._OPTIONAL = ()  # type: ignore[attr-defined]
        _variants[(proxy, stream)] = found
    return found


class SyncStreamProxy(wrapt.ObjectProxy):
    """Wraps a synchronous stream (an iterator, usually also a context manager with ``close()``). Exposes
    exactly the stream's surface: a method the stream lacks is missing on the proxy too."""

    _OPTIONAL = ("__next__", "__enter__", "__exit__", "close", "__aenter__", "__aexit__")

    def __new__(cls, wrapped: Any, *args: Any, **kwargs: Any) -> Any:
        if cls._OPTIONAL:
            cls = _variant(cls, type(wrapped))
        return super().__new__(cls)

    def __init__(self, wrapped: Any, call: Call, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        # The stream's own iterator (openai's and anthropic's ``__iter__`` are generators over the same source as
        # their ``__next__``): a ``for`` over it resumes that generator without a method call per chunk.
        source = iter(wrapped) if hasattr(type(wrapped), "__iter__") else _calls(wrapped.__next__)
        self._self_chunks = _sync_chunks(source, call, accumulator)
        next(self._self_chunks)  # primed: see _sync_chunks

    def __iter__(self) -> Iterator[Any]:
        # Like the clients' own streams (openai's ``Stream.__iter__`` is a generator over the same source): a
        # ``for`` loop and ``next()`` share one iterator, so mixing them sees each chunk once.
        return self._self_chunks

    def __next__(self) -> Any:
        return next(self._self_chunks)

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
            _StreamState.end(self._self_call, self._self_accumulator, exc)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, None)

    def _self_end(self, error: BaseException | None = None) -> None:
        """End the call now with what was seen (for wrappers that close the stream behind the proxy's back)."""
        _StreamState.end(self._self_call, self._self_accumulator, error)


class AsyncStreamProxy(wrapt.ObjectProxy):
    """Wraps an asynchronous stream (an async iterator, usually also an async context manager). Exposes exactly
    the stream's surface: a method the stream lacks (``aclose`` on openai's ``AsyncChatCompletionStream``) is
    missing on the proxy too."""

    _OPTIONAL = ("__anext__", "__aenter__", "__aexit__", "close", "aclose", "__enter__", "__exit__")

    def __new__(cls, wrapped: Any, *args: Any, **kwargs: Any) -> Any:
        if cls._OPTIONAL:
            cls = _variant(cls, type(wrapped))
        return super().__new__(cls)

    def __init__(self, wrapped: Any, call: Call, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        next_chunk = wrapped.__anext__ if hasattr(type(wrapped), "__anext__") else wrapped.__aiter__().__anext__
        self._self_step = _async_step(next_chunk, call, accumulator)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    def __anext__(self) -> Any:
        return self._self_step()  # the coroutine itself: no second coroutine frame per chunk

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
            _StreamState.end(self._self_call, self._self_accumulator, exc)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, None)

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            _StreamState.end(self._self_call, self._self_accumulator, None)

    def _self_end(self, error: BaseException | None = None) -> None:
        """End the call now with what was seen (for wrappers that close the stream behind the proxy's back)."""
        _StreamState.end(self._self_call, self._self_accumulator, error)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _StreamState.end(self._self_call, self._self_accumulator, None)
