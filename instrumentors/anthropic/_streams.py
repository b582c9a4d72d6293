"""Anthropic streams -> :class:`CallRecord`: the raw events of a streamed message, or legacy completion chunks."""

from __future__ import annotations

from typing import Any

from otel_agentmetrics.record import CallRecord

from . import _content as content
from ._response import TOOL_USE_TYPES, Usage


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
            if block.type in TOOL_USE_TYPES:
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
