"""Anthropic: ``messages.create``/``parse``/``stream`` (first-party, beta, Bedrock, Vertex) and legacy completions.

One span per model call, from our one telemetry path, whichever way the call is made: plain or ``stream=True``,
the ``messages.stream(...)`` helper (``text_stream``, ``get_final_message()``), ``with_raw_response`` and
``with_streaming_response`` (which return exactly what an uninstrumented client returns), sync or async.

**The SDK's own span.** anthropic 2.12 starts its own CLIENT span per API call (scope ``com.anthropic.sdk.python``,
on by default). For the calls we instrument we *hand it off* rather than enrich it: the SDK is given a
non-recording span that carries our span's context, so it records and exports nothing, while its trace-context
propagation and any HTTP-client spans hang off our span. Enriching theirs instead would mean a second telemetry
path (cost, metrics, budgets and attribution scopes all live on ours), a span whose name (``anthropic.messages.create``
rather than the conventions' ``chat {model}``) and cache attribute (``cache_write`` rather than
``cache_creation``) differ from every other provider's, and one that is exported through whatever tracer provider
the client was given, possibly not the user's. API calls we do not instrument (files, batches, models,
``count_tokens``) keep the SDK's span, and a client whose SDK tracing is off (``open_telemetry=False``,
``ANTHROPIC_OPEN_TELEMETRY=false``) is left exactly as it is. Releases without native tracing have nothing to hand
off: that patch target is simply absent.

**count_tokens** gets no span of ours: it generates nothing and costs nothing, and recording its count as input
tokens would double the token metrics of the call it sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import Any

import wrapt

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import Accumulator, AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import Wrapper, async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from . import _batches
from ._request import request_record
from ._response import fill_message
from ._streams import CompletionStream, MessageStream
from ._wrappers import (
    async_close_hook,
    close_hook,
    defer_request,
    is_raw_response,
    manager_exit_hook,
    sdk_span_handoff,
    stream_instancecheck_hook,
    track_raw,
)


class _Flavour:
    """What differs between the sync and async clients: the stream proxy and the shared wrapper."""

    def __init__(
        self,
        stream: type[Any],
        wrapper: Callable[..., Wrapper],
    ) -> None:
        self.stream = stream
        self.wrapper = wrapper


_SYNC = _Flavour(SyncStreamProxy, sync_wrapper)
_ASYNC = _Flavour(AsyncStreamProxy, async_wrapper)


def _handler(flavour: _Flavour, capture: bool, accumulate: Callable[[], Accumulator]) -> Any:
    def handle(call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        if is_raw_response(result):
            return track_raw(call, result, capture, accumulate)
        if call.record.stream:
            return flavour.stream(result, call, accumulate())
        fill_message(call.record, result, capture)
        call.end()
        return result

    return handle


def _call_wrapper(
    flavour: _Flavour,
    telemetry: Telemetry,
    operation: str,
    accumulator: Callable[[bool], Accumulator],
    live: Callable[[], bool],
) -> Wrapper:
    """``create``/``parse``: the shared wrapper (which also hands the SDK's own span to ours, see the docstring)."""
    capture = telemetry.capture_content

    def build(instance: Any, args: Any, kwargs: dict[str, Any]) -> CallRecord | None:
        return request_record(instance, kwargs, operation=operation, capture=capture) if live() else None

    return flavour.wrapper(telemetry, build, _handler(flavour, capture, partial(accumulator, capture)))


def _stream_helper_wrapper(flavour: _Flavour, telemetry: Telemetry, live: Callable[[], bool]) -> Wrapper:
    """``stream(...)``: the user keeps the SDK's own manager; the request it sends on entry runs through the shared
    wrapper, so the ``MessageStream`` it builds reads its events from our stream proxy (``text_stream``,
    ``get_final_message()`` and iteration all end the call through it)."""
    capture = telemetry.capture_content

    def build(instance: Any, args: Any, kwargs: dict[str, Any]) -> CallRecord:
        return request_record(instance, kwargs, operation=sc.OP_CHAT, capture=capture, stream=True)

    traced = flavour.wrapper(telemetry, build, _handler(flavour, capture, partial(MessageStream, capture)))

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        manager = wrapped(*args, **kwargs)
        if live():
            defer_request(manager, lambda send: traced(send, instance, args, kwargs))
        return manager

    return wrapper


def _copy_wrapper(wrapper: Wrapper) -> Wrapper:
    """For Bedrock/Vertex beta classes that copy the first-party methods: a copy taken after we patched the
    first-party class is ours already, and must not be wrapped twice."""

    def copy(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if isinstance(wrapped, wrapt.ObjectProxy):
            return wrapped(*args, **kwargs)
        return wrapper(wrapped, instance, args, kwargs)

    return copy


class AnthropicInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``anthropic`` package."""

    dependencies: Collection[str] = ("anthropic >= 0.40",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # A method copied by another class before uninstrument() stays wrapped there: it must then do nothing.
        def live() -> bool:
            return bool(self._is_instrumented_by_opentelemetry)

        chat = {
            flavour: _call_wrapper(flavour, telemetry, sc.OP_CHAT, MessageStream, live) for flavour in (_SYNC, _ASYNC)
        }
        streams = {
            _SYNC: _stream_helper_wrapper(_SYNC, telemetry, live),
            _ASYNC: _stream_helper_wrapper(_ASYNC, telemetry, live),
        }
        for module in ("anthropic.resources.messages", "anthropic.resources.beta.messages"):
            for prefix, flavour in (("", _SYNC), ("Async", _ASYNC)):
                yield module, f"{prefix}Messages.create", chat[flavour]
                yield module, f"{prefix}Messages.parse", chat[flavour]
                yield module, f"{prefix}Messages.stream", streams[flavour]
        for module in ("anthropic.lib.bedrock._beta_messages", "anthropic.lib.vertex._beta_messages"):
            for prefix, flavour in (("", _SYNC), ("Async", _ASYNC)):
                yield module, f"{prefix}Messages.create", _copy_wrapper(chat[flavour])
                yield module, f"{prefix}Messages.parse", _copy_wrapper(chat[flavour])
                yield module, f"{prefix}Messages.stream", _copy_wrapper(streams[flavour])
        module = "anthropic.resources.completions"
        yield (
            module,
            "Completions.create",
            _call_wrapper(_SYNC, telemetry, sc.OP_TEXT_COMPLETION, CompletionStream, live),
        )
        yield (
            module,
            "AsyncCompletions.create",
            _call_wrapper(_ASYNC, telemetry, sc.OP_TEXT_COMPLETION, CompletionStream, live),
        )
        for module, prefix in (("_messages", ""), ("_beta_messages", "Beta")):
            yield f"anthropic.lib.streaming.{module}", f"{prefix}MessageStreamManager.__exit__", manager_exit_hook
            yield f"anthropic.lib.streaming.{module}", f"{prefix}AsyncMessageStreamManager.__aexit__", manager_exit_hook
        yield "anthropic._streaming", "_SyncStreamMeta.__instancecheck__", stream_instancecheck_hook
        yield "anthropic._streaming", "_AsyncStreamMeta.__instancecheck__", stream_instancecheck_hook
        yield "anthropic._response", "APIResponse.close", close_hook
        yield "anthropic._response", "AsyncAPIResponse.close", async_close_hook
        yield "anthropic._base_client", "start_api_call_span", sdk_span_handoff
        # Message Batches: results counted as the app reads them (see _batches).
        for module in ("anthropic.resources.messages.batches", "anthropic.resources.beta.messages.batches"):
            yield module, "Batches.results", _batches.results_hook(telemetry)
            yield module, "AsyncBatches.results", _batches.async_results_hook(telemetry)
