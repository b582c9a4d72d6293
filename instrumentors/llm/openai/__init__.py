"""OpenAI: Chat Completions, Responses, embeddings and legacy completions, sync and async, streamed or not.

Where we wrap, and why: the client's ``request()`` (``SyncAPIClient.request``/``AsyncAPIClient.request``), as
Logfire does, not each resource method as the contrib instrumentation does. Every public path ends there exactly
once per HTTP call: ``create``, ``parse``, the ``chat.completions.stream``/``responses.stream`` helpers (which call
``create``/``_post`` inside; method-level wrapping would need a guard against double spans),
``with_raw_response``, ``with_streaming_response``, Azure's deployment URLs and the ``beta`` aliases of older
clients. Retries happen inside ``request()``, so a retried call is still one span. The request body there is
the plain dict about to be sent, one shape for all paths. Three small special cases remain: raw responses finish
when parsed/closed (:mod:`._raw`), and the ``.stream()`` helpers close the HTTP response behind the stream we
proxy, so their ``close`` ends our span too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from . import _batches, _raw, _realtime
from ._request import OpenAIRecord, read_request
from ._response import READERS
from ._streams import accumulator

__all__ = ["OpenAIInstrumentor"]


def _builder(telemetry: Telemetry, stream_usage: bool) -> Any:
    def build(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> OpenAIRecord | None:
        options = args[1] if len(args) > 1 else kwargs["options"]
        return read_request(client, options, telemetry.capture_content, stream_usage)

    return build


class _Types:
    """The client's stream and raw-response classes, imported on first use (``instrument()`` must not import
    ``openai``; by the time a request returns, it is imported)."""

    stream: tuple[type, ...] = ()
    raw: tuple[type, ...] = ()
    legacy: type = object

    @classmethod
    def load(cls) -> type[_Types]:
        if not cls.stream:
            from openai import AsyncStream, Stream
            from openai._legacy_response import LegacyAPIResponse
            from openai._response import BaseAPIResponse

            cls.raw, cls.legacy = (LegacyAPIResponse, BaseAPIResponse), LegacyAPIResponse
            cls.stream = (Stream, AsyncStream)
        return cls


def _handler(proxy_cls: Any) -> Any:
    def handle(call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        record: OpenAIRecord = call.record  # type: ignore[assignment]
        capture = call.telemetry.capture_content
        types = _Types.load()
        if record.stream:
            if isinstance(result, types.stream):
                return proxy_cls(result, call, accumulator(record, capture))
        elif not isinstance(result, types.raw):
            READERS[record.kind](record, result, capture)
            call.end()
            return result
        if isinstance(result, types.raw):
            eager = type(result) is types.legacy and not record.stream
            _raw.track(call, result, proxy_cls, types.stream, eager)
        else:
            call.end()
        return result

    return handle


class OpenAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``openai`` package (1.40 and later; see the module docstring for where and why)."""

    dependencies: Collection[str] = ("openai >= 1.40",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        build = _builder(telemetry, settings.stream_usage)
        base = "openai._base_client"
        sync_handle = _handler(SyncStreamProxy)
        async_handle = _handler(AsyncStreamProxy)
        yield base, "SyncAPIClient.request", sync_wrapper(telemetry, build, sync_handle)
        yield base, "AsyncAPIClient.request", async_wrapper(telemetry, build, async_handle)
        yield "openai._response", "APIResponse.close", _raw.close_hook
        yield "openai._response", "AsyncAPIResponse.close", _raw.async_close_hook
        chat = "openai.lib.streaming.chat._completions"
        responses = "openai.lib.streaming.responses._responses"
        yield chat, "ChatCompletionStream.close", _raw.helper_close_hook
        yield chat, "AsyncChatCompletionStream.close", _raw.async_helper_close_hook
        yield responses, "ResponseStream.close", _raw.helper_close_hook
        yield responses, "AsyncResponseStream.close", _raw.async_helper_close_hook
        # Batches: results counted when the output file is downloaded (see _batches).
        files, batches = "openai.resources.files", "openai.resources.batches"
        yield files, "Files.content", _batches.content_hook(telemetry)
        yield files, "AsyncFiles.content", _batches.async_content_hook(telemetry)
        for method in ("create", "retrieve", "cancel"):
            yield batches, f"Batches.{method}", _batches.batch_hook(telemetry)
            yield batches, f"AsyncBatches.{method}", _batches.async_batch_hook(telemetry)
        # Realtime: a session span, a span per response (see _realtime).
        realtime = "openai.resources.realtime.realtime"
        for method in ("__enter__", "enter"):
            yield realtime, f"RealtimeConnectionManager.{method}", _realtime.enter_hook(telemetry)
        for method in ("__aenter__", "enter"):
            yield realtime, f"AsyncRealtimeConnectionManager.{method}", _realtime.async_enter_hook(telemetry)
        yield realtime, "RealtimeConnection.recv", _realtime.recv_hook
        yield realtime, "AsyncRealtimeConnection.recv", _realtime.async_recv_hook
        yield realtime, "RealtimeConnection.send", _realtime.send_hook
        yield realtime, "AsyncRealtimeConnection.send", _realtime.async_send_hook
        yield realtime, "RealtimeConnection.close", _realtime.close_hook  # releases that close it there
        yield realtime, "AsyncRealtimeConnection.close", _realtime.async_close_hook
        yield "openai._websocket_connection", "WebSocketConnectionBase.close", _realtime.close_hook
        yield "openai._websocket_connection", "AsyncWebSocketConnectionBase.close", _realtime.async_close_hook
