"""Anthropic content blocks in the conventions' message schema (``{role, parts: [...]}``).

Only called when the user turned content capture on: nothing here runs on the default path. Request blocks are
plain dicts and response blocks are the SDK's models, so every field is read through :func:`field`.
"""

from __future__ import annotations

import json
from typing import Any


def field(obj: Any, name: str) -> Any:
    """A field of a request dict or of a response model; ``None`` when absent."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def part(block: Any) -> dict[str, Any]:
    """One content block as a conventions part; unknown block types keep their type name."""
    if isinstance(block, str):
        return {"type": "text", "content": block}
    kind = field(block, "type")
    if kind == "text":
        return {"type": "text", "content": field(block, "text")}
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return {
            "type": "tool_call",
            "id": field(block, "id"),
            "name": field(block, "name"),
            "arguments": field(block, "input"),
        }
    if kind in ("tool_result", "mcp_tool_result") or (isinstance(kind, str) and kind.endswith("_tool_result")):
        return {"type": "tool_call_response", "id": field(block, "tool_use_id"), "response": _result(block)}
    if kind == "thinking":
        return {"type": "reasoning", "content": field(block, "thinking")}
    if kind == "redacted_thinking":
        return {"type": "reasoning", "content": ""}
    return {"type": kind or "unknown"}


def _result(block: Any) -> Any:
    content = field(block, "content")
    if isinstance(content, list):
        return [part(item) for item in content]
    return content


def parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    return [part(block) for block in content]


def input_messages(messages: Any) -> list[dict[str, Any]] | None:
    if not messages:
        return None
    return [{"role": field(message, "role"), "parts": parts(field(message, "content"))} for message in messages]


def system_instructions(system: Any) -> list[dict[str, Any]] | None:
    return parts(system) or None if system else None


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """Client tools as ``function`` definitions; server tools (web search, code execution) by their own type."""
    if not tools:
        return None
    out: list[dict[str, Any]] = []
    for tool in tools:
        kind = field(tool, "type")
        if kind in (None, "custom"):
            definition = {"type": "function", "name": field(tool, "name")}
            if (description := field(tool, "description")) is not None:
                definition["description"] = description
            definition["parameters"] = field(tool, "input_schema")
            out.append(definition)
        else:
            out.append({"type": kind, "name": field(tool, "name")})
    return out


def output_message(content: Any, stop_reason: str | None) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts(content)}
    if stop_reason is not None:
        message["finish_reason"] = stop_reason
    return [message]


class StreamedBlocks:
    """Rebuilds the content blocks of a streamed message from its deltas (content capture only)."""

    __slots__ = ("blocks",)

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}

    def start(self, index: int, block: Any) -> None:
        kind = field(block, "type")
        entry: dict[str, Any] = {"type": kind, "pieces": []}
        if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            entry["id"] = field(block, "id")
            entry["name"] = field(block, "name")
        elif kind == "text" and field(block, "text"):
            entry["pieces"].append(field(block, "text"))
        self.blocks[index] = entry

    def delta(self, index: int, delta: Any) -> None:
        entry = self.blocks.get(index)
        if entry is None:
            return
        kind = delta.type
        if kind == "text_delta":
            entry["pieces"].append(delta.text)
        elif kind == "input_json_delta":
            entry["pieces"].append(delta.partial_json)
        elif kind == "thinking_delta":
            entry["pieces"].append(delta.thinking)

    def parts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            entry = self.blocks[index]
            kind, text = entry["type"], "".join(entry["pieces"])
            if kind == "text":
                out.append({"type": "text", "content": text})
            elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
                out.append({"type": "tool_call", "id": entry["id"], "name": entry["name"], "arguments": _json(text)})
            elif kind == "thinking":
                out.append({"type": "reasoning", "content": text})
            elif kind == "redacted_thinking":
                out.append({"type": "reasoning", "content": ""})
            else:
                out.append({"type": kind or "unknown"})
        return out


def _json(text: str) -> Any:
    """Streamed tool input arrives as JSON fragments; an empty input is ``{}``, a truncated one stays text."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text
