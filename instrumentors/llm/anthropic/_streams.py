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
        self.tool_call_ids: list[Any] = []  # as sent; checked in finish()
        self.blocks = content.StreamedBlocks() if capture else None

    def add(self, event: Any) -> bool:
        # The client does not validate events: a field of the wrong shape (a ``null`` message, a block that is a
        # list) costs what that event would have added. Delta events, the frequent ones, read plain attributes
        # inside the try (free when nothing raises); the rare ones read each field on its own.
        try:
            kind = event.type
            if kind == "content_block_delta":
                if self.blocks is not None:
                    self.blocks.delta(event.index, event.delta)
            elif kind == "content_block_start":
                block = event.content_block
                if getattr(block, "type", None) in TOOL_USE_TYPES:
                    self.tool_call_ids.append(getattr(block, "id", None))
                if self.blocks is not None:
                    self.blocks.start(event.index, block)
            elif kind == "message_start":
                message = getattr(event, "message", None)
                self.response_id = getattr(message, "id", None)
                self.model = getattr(message, "model", None)
                # Its output count is a placeholder: only message_delta's is final.
                self.usage.take(getattr(message, "usage", None), output=False)
            elif kind == "message_delta":
                stop_reason = getattr(getattr(event, "delta", None), "stop_reason", None)
                self.stop_reason = stop_reason if isinstance(stop_reason, str) and stop_reason else self.stop_reason
                self.usage.take(getattr(event, "usage", None))
        except (AttributeError, TypeError):
            pass
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        if self.stop_reason is not None:
            record.finish_reasons = [self.stop_reason]
        self.usage.fill(record)
        record.tool_call_ids = [i for i in self.tool_call_ids if isinstance(i, str)] or None
        if self.blocks is not None:
            try:
                parts = self.blocks.parts()
            except (AttributeError, TypeError):  # a streamed piece of the wrong type
                parts = []
            message: dict[str, Any] = {"role": "assistant", "parts": parts}
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
