"""Anthropic streams -> :class:`CallRecord`: the raw events of a streamed message, or legacy completion chunks."""

from __future__ import annotations

import importlib
from typing import Any

from otel_agentmetrics.record import CallRecord

from . import _content as content
from ._response import TOOL_USE_TYPES, Usage

_PASSIVE_NAMES = (
    "RawContentBlockDeltaEvent",
    "RawContentBlockStopEvent",
    "RawMessageStopEvent",
)
_passive: tuple[type, ...] | None = None


def passive_classes() -> tuple[type, ...]:
    """The client's event classes whose events a stream not captured has nothing to read in: deltas (the most
    frequent first), block stops, message stops; first-party and beta (Bedrock and Vertex clients share them).

    Why this is exact: the client builds each event from its JSON by the ``type`` it holds, so an event whose
    ``type`` is one we read (message_start, message_delta, content_block_start) is always of that type's class;
    data it cannot place (a type it does not know, or none) goes to the first class of its union,
    ``RawMessageStartEvent``, which is read. An event of any other class (a release's new event type, a raw JSON
    value the client could not build) is read as before."""
    global _passive
    if _passive is None:
        found: list[type] = []
        for module in ("anthropic.types", "anthropic.types.beta"):
            try:
                types = importlib.import_module(module)
            except Exception:  # a release without beta types
                continue
            prefix = "Beta" if module.endswith("beta") else ""
            found.extend(cls for name in _PASSIVE_NAMES if isinstance(cls := getattr(types, prefix + name, None), type))
        # Deltas first: ``in`` compares in order and stops at the first match.
        found.sort(key=lambda cls: not cls.__name__.endswith("DeltaEvent"))
        _passive = tuple(found)
    return _passive


class MessageStream:
    """Accumulates the raw events of a streamed message (``messages.create(stream=True)`` and ``stream()``).

    Read in batches (see :mod:`otel_agentmetrics._stream`): the proxy only keeps the events. Without content
    capture, only the few events that carry what the record needs are read (message_start: ids and input usage;
    message_delta: stop reason and final usage; content_block_start: tool-use ids), each as before and in stream
    order, so several of them combine exactly as they always did (the last message_start's ids, the last stop
    reason, each usage count's last reported value). The many delta and stop events are passed over by their class
    alone (:func:`passive_classes`), never read: a field of a client's event costs hundreds of instructions. With
    content capture every event is read, in order."""

    __slots__ = ("response_id", "model", "stop_reason", "usage", "tool_call_ids", "blocks", "pending")

    def __init__(self, capture: bool) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.usage = Usage()
        self.tool_call_ids: list[Any] = []  # as sent; checked in finish()
        self.blocks = content.StreamedBlocks() if capture else None
        self.pending: list[Any] = []

    def take(self) -> None:
        """Read the pending events (the proxy empties the list)."""
        read = self._read
        if self.blocks is not None:
            for event in self.pending:
                read(event)
            return
        passive = passive_classes()
        for event in self.pending:
            if type(event) not in passive:
                read(event)

    def _read(self, event: Any) -> None:
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
