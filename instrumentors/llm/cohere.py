"""Cohere: v2 ``chat``, ``chat_stream`` and ``embed`` through the ``cohere`` client (``ClientV2``/``AsyncClientV2``).

Tokens are Cohere's ``billed_units`` (what the account is charged for, and so what the price table multiplies),
falling back to ``tokens`` when a response carries no billed units. ``chat_stream`` is a generator function in
both clients (the request is sent on the first ``next``), so it is wrapped synchronously and its stream proxied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from ._common import chat_messages, field, given, server_of, stop_list, text_parts, tool_call_ids, tool_call_parts

_MODULE = "cohere.v2.client"


def _server(instance: Any) -> tuple[str | None, int | None]:
    wrapper = getattr(getattr(instance, "_raw_client", None), "_client_wrapper", None)
    return server_of(wrapper.get_base_url() if wrapper is not None else None)


def _usage(record: CallRecord, usage: Any) -> None:
    """``billed_units`` first (what is charged), then ``tokens``; Cohere reports counts as floats."""
    if usage is None:
        return
    billed, tokens = field(usage, "billed_units"), field(usage, "tokens")
    for name in ("input_tokens", "output_tokens"):
        value = field(billed, name)
        if value is None:
            value = field(tokens, name)
        if value is not None:
            setattr(record, name, value)  # 6.0 becomes 6 in the core's check, which drops what is no count
    cached = field(usage, "cached_tokens")
    if cached:
        record.cache_read_input_tokens = cached


def _output_message(message: Any, finish_reason: str | None) -> dict[str, Any]:
    parts = text_parts(field(message, "content")) + tool_call_parts(field(message, "tool_calls"))
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason}


class _Chat:
    def __init__(self, telemetry: Telemetry, stream: bool) -> None:
        self.telemetry = telemetry
        self.stream = stream

    def build(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        address, port = _server(instance)
        record = CallRecord(
            operation=sc.OP_CHAT,
            provider=sc.PROVIDER_COHERE,
            request_model=given(kwargs.get("model")),
            server_address=address,
            server_port=port,
            max_tokens=given(kwargs.get("max_tokens")),
            temperature=given(kwargs.get("temperature")),
            top_p=given(kwargs.get("p")),
            top_k=given(kwargs.get("k")),
            frequency_penalty=given(kwargs.get("frequency_penalty")),
            presence_penalty=given(kwargs.get("presence_penalty")),
            stop_sequences=stop_list(kwargs.get("stop_sequences")),
            seed=given(kwargs.get("seed")),
            stream=self.stream,
        )
        if self.telemetry.capture_content:
            record.input_messages = chat_messages(kwargs.get("messages"))
        return record

    def handle(self, call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        record = call.record
        if self.stream:
            accumulator = _ChatStream(self.telemetry.capture_content)
            if hasattr(result, "__anext__"):
                return AsyncStreamProxy(result, call, accumulator)
            return SyncStreamProxy(result, call, accumulator)
        _usage(record, field(result, "usage"))  # first: the fields below may not parse
        record.response_id = field(result, "id")
        reason = given(field(result, "finish_reason"))
        reason = None if reason is None else str(reason)
        record.finish_reasons = [reason] if reason is not None else None
        message = field(result, "message")
        record.tool_call_ids = tool_call_ids(field(message, "tool_calls")) or None
        if self.telemetry.capture_content:
            record.output_messages = [_output_message(message, reason)]
        call.end()
        return result


class _ChatStream:
    """Reads the typed v2 events: the id from ``message-start``, finish reason and usage from ``message-end``."""

    __slots__ = ("capture", "response_id", "finish_reason", "usage", "text", "tool_calls")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.text: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []

    def add(self, event: Any) -> bool:
        kind = field(event, "type")
        if kind == "message-start":
            self.response_id = field(event, "id")
        elif kind == "message-end":
            delta = field(event, "delta")
            reason = given(field(delta, "finish_reason"))
            self.finish_reason = None if reason is None else str(reason)
            self.usage = field(delta, "usage")
        elif kind == "tool-call-start":
            tool_call = field(field(field(event, "delta"), "message"), "tool_calls")
            function = field(tool_call, "function")
            arguments = field(function, "arguments")
            self.tool_calls.append(
                {
                    "id": field(tool_call, "id"),
                    "name": field(function, "name"),
                    "args": [arguments] if arguments else [],
                }
            )
        elif kind == "tool-call-delta" and self.capture and self.tool_calls:
            tool_call = field(field(field(event, "delta"), "message"), "tool_calls")
            arguments = field(field(tool_call, "function"), "arguments")
            if arguments:
                self.tool_calls[-1]["args"].append(arguments)
        elif kind == "content-delta" and self.capture:
            text = field(field(field(field(event, "delta"), "message"), "content"), "text")
            if text:
                self.text.append(text)
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        if self.finish_reason is not None:
            record.finish_reasons = [self.finish_reason]
        record.tool_call_ids = [call["id"] for call in self.tool_calls if call["id"]] or None
        _usage(record, self.usage)
        if self.capture:
            parts: list[dict[str, Any]] = [{"type": "text", "content": "".join(self.text)}] if self.text else []
            for call in self.tool_calls:
                parts.append(
                    {"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": "".join(call["args"])}
                )
            record.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": self.finish_reason}]


def _embed_record(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
    address, port = _server(instance)
    record = CallRecord(
        operation=sc.OP_EMBEDDINGS,
        provider=sc.PROVIDER_COHERE,
        request_model=given(kwargs.get("model")),
        server_address=address,
        server_port=port,
    )
    types = given(kwargs.get("embedding_types"))
    if types:
        record.attributes[sc.REQUEST_ENCODING_FORMATS] = [str(t) for t in types]
    return record


def _embed(call: Call, result: Any, args: Any, kwargs: Any) -> Any:
    call.record.response_id = field(result, "id")
    _usage(call.record, field(result, "meta"))
    call.record.output_tokens = None  # an embedding has no output tokens, whatever the meta says
    call.end()
    return result


class CohereInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``cohere`` package's v2 client."""

    dependencies: Collection[str] = ("cohere >= 5.11",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        chat, stream = _Chat(telemetry, stream=False), _Chat(telemetry, stream=True)
        for owner, wrap in (("V2Client", sync_wrapper), ("AsyncV2Client", async_wrapper)):
            yield _MODULE, f"{owner}.chat", wrap(telemetry, chat.build, chat.handle)
            yield _MODULE, f"{owner}.embed", wrap(telemetry, _embed_record, _embed)
            # Both clients' chat_stream return their generator without awaiting anything.
            yield _MODULE, f"{owner}.chat_stream", sync_wrapper(telemetry, stream.build, stream.handle)
