"""Bedrock message content in the conventions' schema; used only when content capture is on.

Two message shapes cover the families: Converse's (also Nova's InvokeModel body), whose blocks are keyed by kind
(``{"text": ...}``, ``{"toolUse": ...}``), and Anthropic's, whose blocks carry a ``type``. Prompt-only bodies
(Llama, Mistral, Titan, Cohere) become one user message.
"""

from __future__ import annotations

from typing import Any


def _part(block: Any) -> dict[str, Any]:
    if isinstance(block, str):
        return {"type": "text", "content": block}
    if not isinstance(block, dict):
        return {"type": "unknown"}
    kind = block.get("type")
    if kind is None:  # Converse / Nova blocks
        if "text" in block:
            return {"type": "text", "content": block["text"]}
        if "toolUse" in block:
            use = block["toolUse"]
            return {
                "type": "tool_call",
                "id": use.get("toolUseId"),
                "name": use.get("name"),
                "arguments": use.get("input"),
            }
        if "toolResult" in block:
            result = block["toolResult"]
            return {"type": "tool_call_response", "id": result.get("toolUseId"), "response": result.get("content")}
        if "reasoningContent" in block:
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            return {"type": "reasoning", "content": text}
        return {"type": next(iter(block), "unknown")}
    if kind == "text":
        return {"type": "text", "content": block.get("text")}
    if kind == "tool_use":
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.get("tool_use_id"), "response": block.get("content")}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking")}
    return {"type": kind}


def _message(message: Any) -> dict[str, Any]:
    content = message.get("content")
    blocks = content if isinstance(content, list) else [content]
    return {"role": message.get("role"), "parts": [_part(block) for block in blocks if block is not None]}


def messages(items: Any) -> list[dict[str, Any]] | None:
    if not isinstance(items, list):
        return None
    return [_message(item) for item in items if isinstance(item, dict)]


def system(value: Any) -> list[dict[str, Any]] | None:
    """Converse's ``system`` list, Anthropic's string or block list, or Nova's list of text blocks."""
    if not value:
        return None
    blocks = value if isinstance(value, list) else [value]
    return [_part(block) for block in blocks]


def converse_tools(tool_config: Any) -> list[dict[str, Any]] | None:
    if not isinstance(tool_config, dict):
        return None
    out = []
    for tool in tool_config.get("tools") or ():
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if spec:
            schema = (spec.get("inputSchema") or {}).get("json")
            out.append(
                {
                    "type": "function",
                    "name": spec.get("name"),
                    "description": spec.get("description"),
                    "parameters": schema,
                }
            )
    return out or None


def anthropic_tools(tools: Any) -> list[dict[str, Any]] | None:
    if not isinstance(tools, list):
        return None
    return [
        {
            "type": "function",
            "name": t.get("name"),
            "description": t.get("description"),
            "parameters": t.get("input_schema"),
        }
        for t in tools
        if isinstance(t, dict)
    ] or None


def request_content(body: dict[str, Any]) -> dict[str, Any]:
    """Input messages, system instructions and tool definitions of an InvokeModel body, any family."""
    out: dict[str, Any] = {}
    if "messages" in body:
        out["input_messages"] = messages(body["messages"])
        out["system_instructions"] = system(body.get("system"))
        out["tool_definitions"] = anthropic_tools(body.get("tools")) or converse_tools(body.get("toolConfig"))
        return out
    prompt = body.get("prompt") or body.get("inputText") or body.get("message")
    if isinstance(prompt, str):
        out["input_messages"] = [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    return out


def response_content(body: dict[str, Any], finish: str | None) -> list[dict[str, Any]] | None:
    """The output message of a complete InvokeModel response body, any family."""
    if isinstance(body.get("content"), list):  # Anthropic
        parts = [_part(block) for block in body["content"]]
    elif isinstance((body.get("output") or {}).get("message"), dict):  # Nova
        parts = _message(body["output"]["message"])["parts"]
    else:
        text = _text(body)
        if text is None:
            return None
        parts = [{"type": "text", "content": text}]
    return [{"role": "assistant", "parts": parts, "finish_reason": finish}]


def _text(body: dict[str, Any]) -> str | None:
    for key in ("generation", "text", "completion"):
        if isinstance(body.get(key), str):
            return str(body[key])
    for key, field in (("outputs", "text"), ("results", "outputText"), ("generations", "text")):
        items = body.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return str(items[0].get(field) or "")
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return str((choices[0].get("message") or {}).get("content") or "")
    return None
