"""Ollama: ``chat``, ``generate`` and ``embed`` through the ``ollama`` client, against a local or remote server.

Ollama reports no response id; tokens are ``prompt_eval_count`` / ``eval_count``, on the last part of a stream
(``done: true``). Request parameters live under ``options`` (``num_predict`` is the token limit). Provider name
``ollama`` (not in the conventions' list; the conventions name such servers by what they are, not ``openai``).

The module-level functions (``ollama.chat(...)``) are methods bound to a default client when ``ollama`` is
imported, so they are re-bound after patching and again after un-patching.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from ._common import chat_messages, field, given, server_of, stop_list, text_parts

PROVIDER = "ollama"
_MODULE = "ollama._client"
_FUNCTIONS = ("chat", "generate", "embed", "embeddings")
_POSITIONAL = {"chat": ("model", "messages"), "generate": ("model", "prompt"), "embed": ("model", "input")}
_OPERATIONS = {
    "chat": sc.OP_CHAT,
    "generate": sc.OP_TEXT_COMPLETION,
    "embed": sc.OP_EMBEDDINGS,
    "embeddings": sc.OP_EMBEDDINGS,
}


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    parts = []
    for tool_call in given(field(message, "tool_calls")) or ():
        function = field(tool_call, "function")
        part = {"type": "tool_call", "name": field(function, "name"), "arguments": field(function, "arguments")}
        if field(tool_call, "id") is not None:
            part["id"] = field(tool_call, "id")
        parts.append(part)
    return parts


class _API:
    """One Ollama method: reads its arguments (positional or not) and its response parts."""

    def __init__(self, telemetry: Telemetry, method: str) -> None:
        self.telemetry = telemetry
        self.method = method
        self.operation = _OPERATIONS[method]

    def build(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        given_args = dict(zip(_POSITIONAL.get(self.method, ("model",)), args, strict=False), **kwargs)
        options = given(given_args.get("options"))
        address, port = server_of(getattr(getattr(instance, "_client", None), "base_url", None))
        record = CallRecord(
            operation=self.operation,
            provider=PROVIDER,
            request_model=given(given_args.get("model")) or None,
            server_address=address,
            server_port=port,
            stream=self.operation != sc.OP_EMBEDDINGS and bool(given_args.get("stream")),
        )
        if options is not None:
            record.max_tokens = given(field(options, "num_predict"))
            record.temperature = given(field(options, "temperature"))
            record.top_p = given(field(options, "top_p"))
            record.top_k = given(field(options, "top_k"))
            record.frequency_penalty = given(field(options, "frequency_penalty"))
            record.presence_penalty = given(field(options, "presence_penalty"))
            record.seed = given(field(options, "seed"))
            record.stop_sequences = stop_list(field(options, "stop"))
        if self.telemetry.capture_content:
            if self.method == "chat":
                record.input_messages = chat_messages(given_args.get("messages"))
            elif self.method == "generate":
                record.input_messages = [{"role": "user", "parts": text_parts(given_args.get("prompt"))}]
                system = given(given_args.get("system"))
                if system:
                    record.system_instructions = [{"type": "text", "content": system}]
        return record

    def handle(self, call: Call, result: Any, args: Any, kwargs: Any) -> Any:
        if call.record.stream:
            accumulator = _Stream(self.method, self.telemetry.capture_content)
            if hasattr(result, "__anext__"):
                return AsyncStreamProxy(result, call, accumulator)
            return SyncStreamProxy(result, call, accumulator)
        accumulator = _Stream(self.method, self.telemetry.capture_content and self.operation != sc.OP_EMBEDDINGS)
        accumulator.add(result)
        accumulator.finish(call.record)
        call.end()
        return result


class _Stream:
    """Reads response parts: text as it comes (content on only), model, reason and counts from the last part."""

    __slots__ = ("method", "capture", "model", "done_reason", "input_tokens", "output_tokens", "text", "tools")

    def __init__(self, method: str, capture: bool) -> None:
        self.method = method
        self.capture = capture
        self.model: str | None = None
        self.done_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.text: list[str] = []
        self.tools: list[dict[str, Any]] = []

    def add(self, part: Any) -> bool:
        self.model = field(part, "model") or self.model
        if field(part, "done_reason") is not None:
            self.done_reason = field(part, "done_reason")
        if field(part, "prompt_eval_count") is not None:
            self.input_tokens = field(part, "prompt_eval_count")
        if field(part, "eval_count") is not None:
            self.output_tokens = field(part, "eval_count")
        if self.capture:
            message = field(part, "message")
            text = field(message, "content") if self.method == "chat" else field(part, "response")
            if text:
                self.text.append(text)
            self.tools += _tool_calls(message)
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_model = self.model
        if self.done_reason is not None:
            record.finish_reasons = [self.done_reason]
        record.input_tokens = self.input_tokens
        if record.operation != sc.OP_EMBEDDINGS:
            record.output_tokens = self.output_tokens
        if self.capture:
            parts: list[dict[str, Any]] = [{"type": "text", "content": "".join(self.text)}] if self.text else []
            record.output_messages = [
                {"role": "assistant", "parts": parts + self.tools, "finish_reason": self.done_reason}
            ]


class OllamaInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``ollama`` package (``Client``, ``AsyncClient`` and the module-level functions)."""

    dependencies: Collection[str] = ("ollama >= 0.4",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for method in _FUNCTIONS:
            api = _API(telemetry, method)
            yield _MODULE, f"Client.{method}", sync_wrapper(telemetry, api.build, api.handle)
            yield _MODULE, f"AsyncClient.{method}", async_wrapper(telemetry, api.build, api.handle)

    def _instrument(self, **kwargs: Any) -> None:
        super()._instrument(**kwargs)
        _rebind_module_functions()

    def _uninstrument(self, **kwargs: Any) -> None:
        super()._uninstrument(**kwargs)
        _rebind_module_functions()


def _rebind_module_functions() -> None:
    """``ollama.chat`` is ``Client().chat`` bound at import: bind it again to the (un)patched class."""
    module = sys.modules.get("ollama")
    default = getattr(module, "_client", None)
    if module is None or default is None or isinstance(default, type(sys)):
        return
    for name in _FUNCTIONS:
        if hasattr(module, name):
            setattr(module, name, getattr(default, name))
