"""Converse and ConverseStream: the request's inference settings, the response and the stream's events -> record.

Converse reports usage the same way for every model family: ``inputTokens`` without the cached part, plus cache
reads and writes, so the record's input is their sum, as the conventions define it.
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics.record import CallRecord, count_sum

from . import _content as content


def read_request(record: CallRecord, params: dict[str, Any], capture: bool) -> None:
    config = params.get("inferenceConfig") or {}
    record.max_tokens = config.get("maxTokens")
    record.temperature = config.get("temperature")
    record.top_p = config.get("topP")
    record.stop_sequences = config.get("stopSequences")
    if capture:
        record.input_messages = content.messages(params.get("messages"))
        record.system_instructions = content.system(params.get("system"))
        record.tool_definitions = content.converse_tools(params.get("toolConfig"))


def read_usage(record: CallRecord, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    read = usage.get("cacheReadInputTokens", usage.get("cacheReadInputTokenCount"))
    write = usage.get("cacheWriteInputTokens", usage.get("cacheWriteInputTokenCount"))
    inputs = usage.get("inputTokens")
    if inputs is not None:
        record.input_tokens = count_sum(inputs, read, write)
    record.output_tokens = usage.get("outputTokens")
    record.cache_read_input_tokens = read
    record.cache_creation_input_tokens = write


def read_response(record: CallRecord, result: dict[str, Any], capture: bool) -> None:
    if result.get("stopReason"):
        record.finish_reasons = [result["stopReason"]]
    read_usage(record, result.get("usage"))
    message = (result.get("output") or {}).get("message")
    if isinstance(message, dict):
        ids = [block["toolUse"].get("toolUseId") for block in message.get("content") or () if "toolUse" in block]
        if ids:
            record.tool_call_ids = ids
        if capture:
            output = content.messages([message]) or []
            for item in output:
                item["finish_reason"] = result.get("stopReason")
            record.output_messages = output


class ConverseStream:
    """Accumulates ConverseStream events: stop reason, usage, tool calls and (with capture) the text."""

    __slots__ = ("capture", "reason", "usage", "text", "reasoning", "tools")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.reason: str | None = None
        self.usage: Any = None
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}

    def add(self, event: Any) -> bool:
        if "contentBlockDelta" in event:
            if self.capture:
                self._delta(event["contentBlockDelta"])
        elif "contentBlockStart" in event:
            start = (event["contentBlockStart"].get("start") or {}).get("toolUse")
            if start:
                index = event["contentBlockStart"].get("contentBlockIndex", 0)
                self.tools[index] = {"id": start.get("toolUseId"), "name": start.get("name"), "args": ""}
        elif "messageStop" in event:
            self.reason = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            self.usage = event["metadata"].get("usage")
        return True

    def _delta(self, block: dict[str, Any]) -> None:
        delta = block.get("delta") or {}
        if "text" in delta:
            self.text.append(delta["text"])
        elif "toolUse" in delta and block.get("contentBlockIndex") in self.tools:
            self.tools[block["contentBlockIndex"]]["args"] += delta["toolUse"].get("input") or ""
        elif "reasoningContent" in delta:
            self.reasoning.append(delta["reasoningContent"].get("text") or "")

    def finish(self, record: CallRecord) -> None:
        if self.reason:
            record.finish_reasons = [self.reason]
        read_usage(record, self.usage)
        ids = [tool["id"] for _, tool in sorted(self.tools.items()) if tool.get("id")]
        if ids:
            record.tool_call_ids = ids
        if self.capture:
            parts: list[dict[str, Any]] = []
            if self.reasoning:
                parts.append({"type": "reasoning", "content": "".join(self.reasoning)})
            if self.text:
                parts.append({"type": "text", "content": "".join(self.text)})
            for _, tool in sorted(self.tools.items()):
                parts.append({"type": "tool_call", "id": tool["id"], "name": tool["name"], "arguments": tool["args"]})
            if parts:
                record.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": self.reason}]
