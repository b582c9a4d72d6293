"""Anthropic request, response and stream shapes -> :class:`CallRecord`.

Shared by ``messages.create``/``parse``/``stream`` (first-party, beta, Bedrock, Vertex) and the legacy
``completions.create``: sync and async differ only in the call line, which lives in the wrappers.

Usage follows the conventions: Anthropic reports ``input_tokens`` *without* the cached part, so the record's
input is ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``. A stream reports usage twice:
``message_start`` carries the input side (and a placeholder output count), ``message_delta`` the final,
cumulative output count (and, in newer API versions, cumulative input counts that replace the first ones).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics.record import CallRecord, count_sum

from . import _anthropic_content as content

_PROVIDER_BY_BASE_CLASS = {"BaseBedrockClient": sc.PROVIDER_BEDROCK, "BaseVertexClient": sc.PROVIDER_VERTEX_AI}
_providers: dict[type, str] = {}


def provider_of(client: Any) -> str:
    """The client's own GenAI provider name (anthropic 2.x declares it), else its cloud by base class."""
    cls = type(client)
    provider = _providers.get(cls)
    if provider is None:
        provider = getattr(cls, "_gen_ai_provider_name", None)
        if not isinstance(provider, str):
            names = {base.__name__ for base in cls.__mro__}
            provider = next((p for n, p in _PROVIDER_BY_BASE_CLASS.items() if n in names), sc.PROVIDER_ANTHROPIC)
        _providers[cls] = provider
    return provider


def server_of(client: Any) -> tuple[str | None, int | None]:
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return None, None
    host = getattr(base_url, "host", None)  # an httpx URL: parsed already, no need to parse its text again
    if host is None:
        parts = urlsplit(str(base_url))
        host, port, scheme = parts.hostname, parts.port, parts.scheme
    else:
        port, scheme = base_url.port, base_url.scheme
    return host, port or (80 if scheme == "http" else 443)


def _given(value: Any) -> Any:
    """The SDK's ``omit``/``NOT_GIVEN`` sentinels are falsy objects that are not ``None``: treat them as absent."""
    return value if value is None or value or isinstance(value, (int, float, str, list, tuple)) else None


def request_record(
    instance: Any, kwargs: dict[str, Any], *, operation: str, capture: bool, stream: bool | None = None
) -> CallRecord:
    client = getattr(instance, "_client", None)
    address, port = server_of(client)
    extra = kwargs.get("extra_body")
    if isinstance(extra, dict) and extra:
        # anthropic 2.x dropped sampling parameters from the signature; they travel in ``extra_body``.
        kwargs = {**extra, **kwargs}
    stops = _given(kwargs.get("stop_sequences"))
    record = CallRecord(
        operation=operation,
        provider=provider_of(client),
        request_model=_given(kwargs.get("model")),
        server_address=address,
        server_port=port,
        max_tokens=_given(kwargs.get("max_tokens", kwargs.get("max_tokens_to_sample"))),
        temperature=_given(kwargs.get("temperature")),
        top_p=_given(kwargs.get("top_p")),
        top_k=_given(kwargs.get("top_k")),
        stop_sequences=list(stops) if stops else None,
        stream=bool(_given(kwargs.get("stream"))) if stream is None else stream,
        # anthropic 2.12's `open_telemetry={"conversation_id": ...}` client option: kept, though its span is ours.
        conversation_id=getattr(getattr(client, "_otel", None), "conversation_id", None),
    )
    if capture:
        record.input_messages = content.input_messages(_given(kwargs.get("messages")))
        if record.input_messages is None and isinstance(prompt := kwargs.get("prompt"), str):
            record.input_messages = [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
        record.system_instructions = content.system_instructions(_given(kwargs.get("system")))
        record.tool_definitions = content.tool_definitions(_given(kwargs.get("tools")))
    return record


class Usage:
    """Token counts as reported, merged across a stream's events; written to the record once."""

    __slots__ = ("input", "cache_read", "cache_creation", "output", "thinking")

    def __init__(self) -> None:
        self.input: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.output: int | None = None
        self.thinking: int | None = None

    def take(self, usage: Any, *, output: bool = True) -> None:
        """Read one usage object; fields it leaves ``None`` keep their earlier value."""
        if usage is None:
            return
        if (value := getattr(usage, "input_tokens", None)) is not None:
            self.input = value
        if (value := getattr(usage, "cache_read_input_tokens", None)) is not None:
            self.cache_read = value
        if (value := getattr(usage, "cache_creation_input_tokens", None)) is not None:
            self.cache_creation = value
        if output:
            if (value := getattr(usage, "output_tokens", None)) is not None:
                self.output = value
            details = getattr(usage, "output_tokens_details", None)
            # A model in releases that know the field; a plain dict (an extra field) in older ones.
            if details is not None and (value := content.field(details, "thinking_tokens")) is not None:
                self.thinking = value

    def fill(self, record: CallRecord) -> None:
        if self.input is not None:
            record.input_tokens = count_sum(self.input, self.cache_read, self.cache_creation)
        record.cache_read_input_tokens = self.cache_read
        record.cache_creation_input_tokens = self.cache_creation
        record.output_tokens = self.output
        record.reasoning_output_tokens = self.thinking


def fill_message(record: CallRecord, message: Any, capture: bool) -> None:
    """A complete ``Message``/``BetaMessage`` (or a legacy ``Completion``) into the record."""
    record.response_id = getattr(message, "id", None)
    record.response_model = getattr(message, "model", None)
    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason is not None:
        record.finish_reasons = [stop_reason]
    usage = Usage()
    usage.take(getattr(message, "usage", None))
    usage.fill(record)
    blocks = getattr(message, "content", None)
    if blocks:
        ids = [block.id for block in blocks if getattr(block, "type", None) in _TOOL_USE_TYPES]
        record.tool_call_ids = ids or None
    if capture:
        if blocks is not None:
            record.output_messages = content.output_message(blocks, stop_reason)
        elif isinstance(text := getattr(message, "completion", None), str):
            record.output_messages = content.output_message(text, stop_reason)


_TOOL_USE_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


class MessageStream:
    """Accumulates the raw events of a streamed message (``messages.create(stream=True)`` and ``stream()``)."""

    __slots__ = ("response_id", "model", "stop_reason", "usage", "tool_call_ids", "blocks")

    def __init__(self, capture: bool) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.usage = Usage()
        self.tool_call_ids: list[str] = []
        self.blocks = content.StreamedBlocks() if capture else None

    def add(self, event: Any) -> bool:
        kind = event.type
        if kind == "content_block_delta":
            if self.blocks is not None:
                self.blocks.delta(event.index, event.delta)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type in _TOOL_USE_TYPES:
                self.tool_call_ids.append(block.id)
            if self.blocks is not None:
                self.blocks.start(event.index, block)
        elif kind == "message_start":
            message = event.message
            self.response_id = message.id
            self.model = message.model
            # Its output count is a placeholder: only message_delta's is final.
            self.usage.take(message.usage, output=False)
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            self.usage.take(getattr(event, "usage", None))
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        if self.stop_reason is not None:
            record.finish_reasons = [self.stop_reason]
        self.usage.fill(record)
        record.tool_call_ids = self.tool_call_ids or None
        if self.blocks is not None:
            message: dict[str, Any] = {"role": "assistant", "parts": self.blocks.parts()}
            if self.stop_reason is not None:
                message["finish_reason"] = self.stop_reason
            record.output_messages = [message]


class CompletionStream:
    """Accumulates a legacy ``completions.create(stream=True)`` stream (``Completion`` chunks; no usage)."""

    __slots__ = ("response_id", "model", "stop_reason", "pieces")

    def __init__(self, capture: bool) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.pieces: list[str] | None = [] if capture else None

    def add(self, chunk: Any) -> bool:
        if self.response_id is None:
            self.response_id = getattr(chunk, "id", None)
            self.model = getattr(chunk, "model", None)
        if (stop := getattr(chunk, "stop_reason", None)) is not None:
            self.stop_reason = stop
        if self.pieces is not None and (text := getattr(chunk, "completion", None)):
            self.pieces.append(text)
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        if self.stop_reason is not None:
            record.finish_reasons = [self.stop_reason]
        if self.pieces is not None:
            record.output_messages = content.output_message("".join(self.pieces), self.stop_reason)
