"""Small readers every provider module shares: optional arguments, server addresses and message content.

Kept apart from the provider modules so each of those stays one small file that only knows its library's shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def given(value: Any) -> Any:
    """The argument's value, or ``None`` for the "not given" sentinels SDKs use (``None``, ``...``, ``UNSET``)."""
    if value is None or value is Ellipsis or type(value).__name__ == "Unset":
        return None
    return value


_MISSING = object()


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings (TypedDict requests, NDJSON parts), ``obj.name`` for response models.

    Runs for every field of every streamed chunk, so the common cases go first: a plain dict, then an attribute;
    the ``Mapping`` check (an ABC look-up) only for what is neither.
    """
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        return obj.get(name) if isinstance(obj, Mapping) else None
    return value


def server_of(url: Any) -> tuple[str | None, int | None]:
    """Host and port of a base URL, the port defaulted from the scheme."""
    if not url:
        return None, None
    parts = urlsplit(str(url))
    if not parts.hostname:
        return None, None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def stop_list(stop: Any) -> list[str] | None:
    stop = given(stop)
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Message content (a string or a list of typed parts) as the conventions' parts."""
    content = given(content)
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for item in content:
        kind = field(item, "type")
        text = field(item, "text")
        if text is not None:
            parts.append({"type": "text", "content": text})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": str(field(item, "thinking") or "")})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    """OpenAI-shaped ``tool_calls`` (``{id, function: {name, arguments}}``) as ``tool_call`` parts."""
    parts: list[dict[str, Any]] = []
    for tool_call in given(tool_calls) or ():
        function = field(tool_call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": field(tool_call, "id"),
                "name": field(function, "name"),
                "arguments": field(function, "arguments"),
            }
        )
    return parts


def chat_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI-shaped chat messages (dicts or models) in the conventions' message schema."""
    out: list[dict[str, Any]] = []
    for message in given(messages) or ():
        role = field(message, "role")
        role = getattr(role, "value", role)
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": field(message, "tool_call_id"),
                    "response": field(message, "content"),
                }
            ]
        else:
            parts = text_parts(field(message, "content")) + tool_call_parts(field(message, "tool_calls"))
        out.append({"role": role, "parts": parts})
    return out


def tool_call_ids(tool_calls: Any) -> list[str]:
    return [str(field(tc, "id")) for tc in given(tool_calls) or () if field(tc, "id") is not None]
