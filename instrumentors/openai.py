"""OpenAI: chat completions (more APIs land with the foundation issue)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord


def _server(instance: Any) -> tuple[str | None, int | None]:
    client = getattr(instance, "_client", None)
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return None, None
    parts = urlsplit(str(base_url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def _chat_record(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
    address, port = _server(instance)
    stop = kwargs.get("stop")
    return CallRecord(
        operation=sc.OP_CHAT,
        provider=sc.PROVIDER_OPENAI,
        request_model=kwargs.get("model"),
        server_address=address,
        server_port=port,
        max_tokens=kwargs.get("max_completion_tokens") or kwargs.get("max_tokens"),
        temperature=kwargs.get("temperature"),
        top_p=kwargs.get("top_p"),
        frequency_penalty=kwargs.get("frequency_penalty"),
        presence_penalty=kwargs.get("presence_penalty"),
        stop_sequences=[stop] if isinstance(stop, str) else stop,
        seed=kwargs.get("seed"),
        choice_count=kwargs.get("n"),
        stream=bool(kwargs.get("stream")),
    )


def _usage(record: CallRecord, usage: Any) -> None:
    if usage is None:
        return
    record.input_tokens = usage.prompt_tokens
    record.output_tokens = usage.completion_tokens
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None and details.cached_tokens is not None:
        record.cache_read_input_tokens = details.cached_tokens
    out_details = getattr(usage, "completion_tokens_details", None)
    if out_details is not None and out_details.reasoning_tokens is not None:
        record.reasoning_output_tokens = out_details.reasoning_tokens


class _ChatStream:
    """Accumulates chat completion chunks."""

    __slots__ = ("response_id", "model", "finish_reasons", "usage")

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.finish_reasons: dict[int, str] = {}
        self.usage: Any = None

    def add(self, chunk: Any) -> bool:
        if self.response_id is None:
            self.response_id = chunk.id
            self.model = chunk.model
        for choice in chunk.choices:
            if choice.finish_reason is not None:
                self.finish_reasons[choice.index] = choice.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        if self.finish_reasons:
            record.finish_reasons = [self.finish_reasons[i] for i in sorted(self.finish_reasons)]
        _usage(record, self.usage)


def _chat_sync(call: Call, result: Any, args: Any, kwargs: Any) -> Any:
    if call.record.stream:
        return SyncStreamProxy(result, call, _ChatStream())
    _chat_response(call, result)
    return result


def _chat_async(call: Call, result: Any, args: Any, kwargs: Any) -> Any:
    if call.record.stream:
        return AsyncStreamProxy(result, call, _ChatStream())
    _chat_response(call, result)
    return result


def _chat_response(call: Call, result: Any) -> None:
    record = call.record
    record.response_id = result.id
    record.response_model = result.model
    record.finish_reasons = [choice.finish_reason for choice in result.choices]
    _usage(record, result.usage)
    call.end()


class OpenAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``openai`` package."""

    dependencies: Collection[str] = ("openai >= 1.40",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        module = "openai.resources.chat.completions"
        yield module, "Completions.create", sync_wrapper(telemetry, _chat_record, _chat_sync)
        yield module, "AsyncCompletions.create", async_wrapper(telemetry, _chat_record, _chat_async)
