"""Calls whose end waits on an object the user holds: a raw response that is parsed, closed or dropped later.

Both Stainless-generated clients (openai, anthropic) hand out raw responses from ``with_raw_response`` and
``with_streaming_response``; the call ends when the user parses or closes one, or when it is garbage-collected.
An instrumentor subclasses :class:`PendingCall` for what it needs to read the response, and keeps one
:class:`PendingCalls` registry.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._guard import internal_error
from ._telemetry import Call


class PendingCall:
    """One call waiting on a client object. ``proxy`` is set once the object turned into a stream we proxy."""

    __slots__ = ("call", "proxy", "parsed", "finalizer", "__weakref__")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.proxy: Any = None
        self.parsed = False
        self.finalizer: Any = None

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy._self_end()  # the body under a parsed stream is closed: end with what was seen
        elif not self.call.ended:
            self.call.end()


P = TypeVar("P", bound=PendingCall)


class PendingCalls(Generic[P]):
    """Client object -> its pending call, held weakly; a collected object ends its call."""

    def __init__(self) -> None:
        self._by_object: weakref.WeakKeyDictionary[Any, P] = weakref.WeakKeyDictionary()

    def add(self, obj: Any, pending: P) -> P:
        self._by_object[obj] = pending
        pending.finalizer = weakref.finalize(obj, pending.end)
        return pending

    def get(self, obj: Any) -> P | None:
        return self._by_object.get(obj) if self._by_object else None

    def pop(self, obj: Any) -> P | None:
        return self._by_object.pop(obj, None) if self._by_object else None

    def parse_hook(
        self, stream_of: Callable[[P, Any], Any], read: Callable[[P, Any], None], what: str
    ) -> Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]:
        """A ``wrapt`` wrapper for the client's ``_parse``: the first parse of a tracked raw response finishes its
        call, or hands it to a stream proxy. ``stream_of(pending, parsed)`` returns that proxy for a streamed
        body (else None); ``read(pending, parsed)`` fills the record from a parsed model. Parsing into another
        type (``to=``) and the client's own later re-parses are left alone."""

        def hook(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            pending = self.get(instance)
            if pending is None or pending.parsed or kwargs.get("to") is not None:
                return wrapped(*args, **kwargs)
            result = wrapped(*args, **kwargs)
            pending.parsed = True
            try:
                proxy = stream_of(pending, result)
                if proxy is not None:
                    # From here the proxy owns the call (it ends on exhaustion, close or its own collection);
                    # the user may drop the raw response and keep iterating.
                    pending.finalizer.detach()
                    pending.proxy = proxy
                    return proxy
                read(pending, result)
            except Exception:
                internal_error(what)
            pending.call.end()
            return result

        return hook
