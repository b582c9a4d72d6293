"""A complete Anthropic message -> :class:`CallRecord`, and the usage arithmetic streams share.

Usage follows the conventions: Anthropic reports ``input_tokens`` *without* the cached part, so the record's
input is ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``. A stream reports usage twice:
``message_start`` carries the input side (and a placeholder output count), ``message_delta`` the final,
cumulative output count (and, in newer API versions, cumulative input counts that replace the first ones).
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics.record import CallRecord, count_sum

from . import _content as content

TOOL_USE_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


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
    if isinstance(stop_reason, str):
        record.finish_reasons = [stop_reason]
    usage = Usage()
    usage.take(getattr(message, "usage", None))
    usage.fill(record)
    blocks = getattr(message, "content", None)
    if blocks and isinstance(blocks, list):  # the client does not validate: "content" may hold any JSON value
        ids = [getattr(block, "id", None) for block in blocks if getattr(block, "type", None) in TOOL_USE_TYPES]
        record.tool_call_ids = [i for i in ids if isinstance(i, str)] or None
    if capture:
        if isinstance(blocks, list | str):
            record.output_messages = content.output_message(blocks, stop_reason)
        elif isinstance(text := getattr(message, "completion", None), str):
            record.output_messages = content.output_message(text, stop_reason)

