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
    """Client object -> its pending call, held weakly; a collected object ends its call.

    The call ends when the client's ``_parse`` first parses the object's body. Only the tracked objects get that
    hook, as an instance attribute set by :meth:`add`, so the ordinary (not raw) calls, which parse every response
    through the same ``_parse``, pay nothing for it. ``stream_of(pending, parsed)`` returns a stream proxy for a
    streamed body (else None); ``read(pending, parsed)`` fills the record from a parsed model; ``what`` names the
    step in the log if reading breaks.
    """

    def __init__(self, stream_of: Callable[[P, Any], Any], read: Callable[[P, Any], None], what: str) -> None:
        self._by_object: weakref.WeakKeyDictionary[Any, P] = weakref.WeakKeyDictionary()
        self._stream_of = stream_of
        self._read = read
        self._what = what

    def add(self, obj: Any, pending: P) -> P:
        self._by_object[obj] = pending
        pending.finalizer = weakref.finalize(obj, pending.end)
        try:
            obj._parse = self._parse_hook(weakref.ref(obj), pending)
        except Exception:
            internal_error("hooking a raw response's parse")
        return pending

    def pop(self, obj: Any) -> P | None:
        return self._by_object.pop(obj, None) if self._by_object else None

    def _parse_hook(self, ref: weakref.ref[Any], pending: P) -> Callable[..., Any]:
        """The tracked object's own ``_parse``: the first parse finishes the call or hands it to a stream proxy,
        then the hook removes itself. Parsing into another type (``to=``) is left alone. It holds the object
        weakly, so dropping the response still collects it at once."""

        def _parse(*args: Any, **kwargs: Any) -> Any:
            instance: Any = ref()
            parse = type(instance)._parse  # the class's, whoever else wraps it, looked up now
            if pending.parsed or kwargs.get("to") is not None:
                return parse(instance, *args, **kwargs)
            result = parse(instance, *args, **kwargs)
            pending.parsed = True
            instance.__dict__.pop("_parse", None)
            try:
                proxy = self._stream_of(pending, result)
                if proxy is not None:
                    # From here the proxy owns the call (it ends on exhaustion, close or its own collection);
                    # the user may drop the raw response and keep iterating.
                    pending.finalizer.detach()
                    pending.proxy = proxy
                    return proxy
                self._read(pending, result)
            except Exception:
                internal_error(self._what)
            pending.call.end()
            return result

        return _parse
