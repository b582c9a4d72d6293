"""OpenAI messages in the conventions' message schema (``{role, parts: [...]}``), for opt-in content capture.

Only called when content capture is on, so nothing here is on the default hot path. Request bodies arrive as
the plain dicts the client sends; responses as the client's pydantic models (read through ``getattr``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_SYSTEM_ROLES = ("system", "developer")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Parts of a message's ``content``: a string, or a list of typed parts (text, images, audio, files)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, Iterable) else [content]:
        kind = _get(part, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": _get(part, "text")})
        elif kind == "refusal":
            parts.append({"type": "text", "content": _get(part, "refusal")})
        elif kind in ("image_url", "input_image"):
            image = _get(part, "image_url")
            url = _get(image, "url") if image is not None and not isinstance(image, str) else image
            parts.append({"type": "uri", "modality": "image", "uri": url})
        else:
            parts.append({"type": str(kind)})
    return parts


def _tool_call_part(call: Any) -> dict[str, Any]:
    function = _get(call, "function")
    return {
        "type": "tool_call",
        "id": _get(call, "id"),
        "name": _get(function, "name"),
        "arguments": _get(function, "arguments"),
    }


def chat_input(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(input messages, system instructions)`` of a chat request."""
    inputs: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for message in messages or ():
        role = _get(message, "role")
        content = _get(message, "content")
        if role in _SYSTEM_ROLES:
            system.extend(text_parts(content))
            continue
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": _get(message, "tool_call_id"), "response": content}]
        else:
            parts = text_parts(content)
            parts.extend(_tool_call_part(call) for call in _get(message, "tool_calls") or ())
        inputs.append({"role": role, "parts": parts})
    return inputs, system


def chat_output(message: Any, finish_reason: Any) -> dict[str, Any]:
    """One choice of a chat response as an output message."""
    parts = text_parts(_get(message, "content"))
    refusal = _get(message, "refusal")
    if refusal:
        parts.append({"type": "text", "content": refusal})
    parts.extend(_tool_call_part(call) for call in _get(message, "tool_calls") or ())
    return {"role": _get(message, "role") or "assistant", "parts": parts, "finish_reason": finish_reason}


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Chat (``{"type": "function", "function": {...}}``) and Responses (flat) tool definitions."""
    out: list[dict[str, Any]] = []
    for tool in tools or ():
        function = _get(tool, "function") or tool
        out.append(
            {
                "type": _get(tool, "type") or "function",
                "name": _get(function, "name"),
                "description": _get(function, "description"),
                "parameters": _get(function, "parameters"),
            }
        )
    return out


def responses_input(items: Any) -> list[dict[str, Any]]:
    """The ``input`` of a Responses request: a string or a list of message/function-call items."""
    if isinstance(items, str):
        return [{"role": "user", "parts": [{"type": "text", "content": items}]}]
    out: list[dict[str, Any]] = []
    for item in items or ():
        kind = _get(item, "type") or "message"
        if kind == "message":
            out.append({"role": _get(item, "role"), "parts": text_parts(_get(item, "content"))})
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [_responses_tool_call(item)]})
        elif kind == "function_call_output":
            part = {"type": "tool_call_response", "id": _get(item, "call_id"), "response": _get(item, "output")}
            out.append({"role": "tool", "parts": [part]})
        else:
            out.append({"role": "user", "parts": [{"type": str(kind)}]})
    return out


def _responses_tool_call(item: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": _get(item, "call_id"),
        "name": _get(item, "name"),
        "arguments": _get(item, "arguments"),
    }


def responses_output(items: Any, finish_reason: str | None) -> list[dict[str, Any]]:
    """The ``output`` items of a Response as one assistant message."""
    parts: list[dict[str, Any]] = []
    for item in items or ():
        kind = _get(item, "type")
        if kind == "message":
            parts.extend(text_parts(_get(item, "content")))
        elif kind == "function_call":
            parts.append(_responses_tool_call(item))
        elif kind == "reasoning":
            summary = " ".join(_get(s, "text") or "" for s in _get(item, "summary") or ())
            parts.append({"type": "reasoning", "content": summary})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]
