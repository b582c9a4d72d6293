"""Chat completions in OpenAI's shape, as Groq, Mistral and LiteLLM return them: one reader for all three.

A provider module builds a :class:`ChatAPI` with its provider name and how to find its server, and passes its
bound ``build`` / ``handle_sync`` / ``handle_async`` to the core's wrapper factories. Only the shapes are shared:
each provider keeps its own name, server and quirks (Mistral's ``random_seed`` and ``event.data`` chunks, Groq's
``x_groq.usage`` on the last chunk).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics.record import CallRecord

from ._common import chat_messages, field, given, stop_list, text_parts, tool_call_ids, tool_call_parts

Server = Callable[[Any, dict[str, Any]], tuple[str | None, int | None]]


def read_usage(record: CallRecord, usage: Any) -> None:
    """``prompt_tokens`` / ``completion_tokens`` and, where reported, the cached and reasoning details."""
    if usage is None:
        return
    record.input_tokens = field(usage, "prompt_tokens")
    record.output_tokens = field(usage, "completion_tokens")
    cached = field(field(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is not None:
        record.cache_read_input_tokens = cached
    reasoning = field(field(usage, "completion_tokens_details"), "reasoning_tokens")
    if reasoning is not None:
        record.reasoning_output_tokens = reasoning


class ChatAPI:
    """Request, response and stream readers for one provider's OpenAI-shaped chat endpoint."""

    def __init__(
        self,
        telemetry: Telemetry,
        provider: str,
        server: Server,
        *,
        seed_key: str = "seed",
        chunk_field: str | None = None,
        streams: bool | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.provider = provider
        self.server = server
        self.seed_key = seed_key
        self.chunk_field = chunk_field
        self.streams = streams  # None: the ``stream`` argument decides; True: a stream-only method

    def build(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        return self.request(kwargs, self.provider, *self.server(instance, kwargs))

    def request(self, kwargs: dict[str, Any], provider: str, address: str | None, port: int | None) -> CallRecord:
        """The record of one request, for a provider and server the caller resolved."""
        record = CallRecord(
            operation=sc.OP_CHAT,
            provider=provider,
            request_model=given(kwargs.get("model")),
            server_address=address,
            server_port=port,
            max_tokens=given(kwargs.get("max_completion_tokens")) or given(kwargs.get("max_tokens")),
            temperature=given(kwargs.get("temperature")),
            top_p=given(kwargs.get("top_p")),
            top_k=given(kwargs.get("top_k")),
            frequency_penalty=given(kwargs.get("frequency_penalty")),
            presence_penalty=given(kwargs.get("presence_penalty")),
            stop_sequences=stop_list(kwargs.get("stop")),
            seed=given(kwargs.get(self.seed_key)),
            choice_count=given(kwargs.get("n")),
            stream=self.streams if self.streams is not None else bool(given(kwargs.get("stream"))),
        )
        if self.telemetry.capture_content:
            record.input_messages = chat_messages(kwargs.get("messages"))
            tools = given(kwargs.get("tools"))
            if tools:
                record.tool_definitions = [_plain(tool) for tool in tools]
        return record

    def handle_sync(self, call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        if call.record.stream:
            return SyncStreamProxy(result, call, self.accumulator())
        self.read_response(call.record, result)
        call.end()
        return result

    def handle_async(self, call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        if call.record.stream:
            return AsyncStreamProxy(result, call, self.accumulator())
        self.read_response(call.record, result)
        call.end()
        return result

    def accumulator(self) -> ChatStream:
        return ChatStream(self.chunk_field, self.telemetry.capture_content)

    def read_response(self, record: CallRecord, result: Any) -> None:
        read_usage(record, field(result, "usage"))  # first, so a body whose other fields break keeps its tokens
        record.response_id = field(result, "id")
        record.response_model = field(result, "model")
        choices = field(result, "choices") or ()
        reasons = [_reason(field(choice, "finish_reason")) for choice in choices]
        record.finish_reasons = [r for r in reasons if r is not None] or None
        ids: list[str] = []
        for choice in choices:
            ids += tool_call_ids(field(field(choice, "message"), "tool_calls"))
        record.tool_call_ids = ids or None
        if self.telemetry.capture_content:
            record.output_messages = [
                _output_message(field(choice, "message"), _reason(field(choice, "finish_reason"))) for choice in choices
            ]


class ChatStream:
    """Accumulates OpenAI-shaped chunks: id, model, finish reasons, usage, and text only when content is on."""

    __slots__ = ("chunk_field", "capture", "response_id", "model", "finish_reasons", "usage", "texts", "tools")

    def __init__(self, chunk_field: str | None, capture: bool) -> None:
        self.chunk_field = chunk_field
        self.capture = capture
        self.response_id: str | None = None
        self.model: str | None = None
        self.finish_reasons: dict[int, str] = {}
        self.usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.tools: dict[int, dict[int, dict[str, Any]]] = {}

    def add(self, chunk: Any) -> bool:
        if self.chunk_field is not None:
            chunk = field(chunk, self.chunk_field)
        if not (self.response_id and self.model):  # Azure's first chunk has "" for both: take the first real ones
            self.response_id = self.response_id or field(chunk, "id") or None
            self.model = self.model or field(chunk, "model") or None
        for choice in field(chunk, "choices") or ():
            index = field(choice, "index") or 0
            reason = _reason(field(choice, "finish_reason"))
            if reason is not None:
                self.finish_reasons[index] = reason
            delta = field(choice, "delta")
            for tool_call in given(field(delta, "tool_calls")) or ():
                self._tool_delta(index, tool_call)
            if self.capture:
                content = given(field(delta, "content"))
                if isinstance(content, str) and content:
                    self.texts.setdefault(index, []).append(content)
        usage = field(chunk, "usage") or field(field(chunk, "x_groq"), "usage")
        if usage is not None:
            self.usage = usage
        return True

    def _tool_delta(self, index: int, tool_call: Any) -> None:
        calls = self.tools.setdefault(index, {})
        index = field(tool_call, "index")  # the first delta of a call names it; the next ones carry its index only
        slot = calls.setdefault(len(calls) if index is None else index, {"id": None, "name": None, "args": []})
        slot["id"] = slot["id"] or field(tool_call, "id")
        function = field(tool_call, "function")
        slot["name"] = slot["name"] or field(function, "name")
        if self.capture and field(function, "arguments"):
            slot["args"].append(field(function, "arguments"))

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        if self.finish_reasons:
            record.finish_reasons = [self.finish_reasons[i] for i in sorted(self.finish_reasons)]
        ids = [slot["id"] for calls in self.tools.values() for slot in calls.values() if slot["id"]]
        record.tool_call_ids = ids or None
        read_usage(record, self.usage)
        if self.capture:
            record.output_messages = [self._message(i) for i in sorted(set(self.texts) | set(self.tools))]

    def _message(self, index: int) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if index in self.texts:
            parts.append({"type": "text", "content": "".join(self.texts[index])})
        for slot in self.tools.get(index, {}).values():
            parts.append(
                {"type": "tool_call", "id": slot["id"], "name": slot["name"], "arguments": "".join(slot["args"])}
            )
        return {"role": "assistant", "parts": parts, "finish_reason": self.finish_reasons.get(index)}


def _reason(value: Any) -> str | None:
    value = given(value)
    return None if value is None else str(getattr(value, "value", value))


def _output_message(message: Any, finish_reason: str | None) -> dict[str, Any]:
    parts = text_parts(field(message, "content")) + tool_call_parts(field(message, "tool_calls"))
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason}


def _plain(tool: Any) -> Any:
    dump = getattr(tool, "model_dump", None)
    return dump() if dump is not None else tool


class EmbeddingsAPI:
    """Request and response readers for an OpenAI-shaped embeddings endpoint (``usage.prompt_tokens``)."""

    def __init__(self, provider: str, server: Server, *, model_key: str = "model") -> None:
        self.provider = provider
        self.server = server
        self.model_key = model_key

    def build(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        address, port = self.server(instance, kwargs)
        record = CallRecord(
            operation=sc.OP_EMBEDDINGS,
            provider=self.provider,
            request_model=given(kwargs.get(self.model_key)),
            server_address=address,
            server_port=port,
        )
        encoding = given(kwargs.get("encoding_format"))
        if encoding is not None:
            record.attributes[sc.REQUEST_ENCODING_FORMATS] = [str(getattr(encoding, "value", encoding))]
        return record

    def handle(self, call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        record = call.record
        record.response_id = field(result, "id")
        record.response_model = field(result, "model")
        record.input_tokens = field(field(result, "usage"), "prompt_tokens")
        call.end()
        return result
