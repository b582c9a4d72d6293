"""What google-genai and the vertexai SDK share: Gemini's usage metadata, finish reasons and content parts.

Both SDKs return the same Gemini response (pydantic models in one, proto-plus messages in the other), so the
mapping to our record lives here once. Gemini reports ``candidates_token_count`` *without* the thinking tokens
(``thoughts_token_count``); our output tokens include reasoning, so the two are added. ``prompt_token_count``
already includes cached tokens and is taken as is; the tool-use prompt (``tool_use_prompt_token_count``,
billed as input) is added to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics.record import CallRecord, count_sum


def get(obj: Any, name: str) -> Any:
    """``obj[name]`` for dicts (config given as a dict), the attribute otherwise; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def read_config(record: CallRecord, config: Any) -> None:
    """Generation parameters from a ``GenerateContentConfig``/``GenerationConfig`` or its dict form."""
    if config is None:
        return
    record.temperature = get(config, "temperature")
    record.top_p = get(config, "top_p")
    record.top_k = get(config, "top_k")
    record.max_tokens = get(config, "max_output_tokens")
    stop = get(config, "stop_sequences")
    record.stop_sequences = list(stop) if stop else None
    record.seed = get(config, "seed")
    record.choice_count = get(config, "candidate_count")
    record.presence_penalty = get(config, "presence_penalty")
    record.frequency_penalty = get(config, "frequency_penalty")


def has_counts(usage: Any) -> bool:
    """Whether ``usage_metadata`` holds counts (early stream chunks carry an empty one).

    Proto messages say 0 for "not reported"; no real call has no input at all.
    """
    return usage is not None and bool(get(usage, "prompt_token_count") or get(usage, "candidates_token_count"))


def read_usage(record: CallRecord, usage: Any) -> None:
    """Fill token counts from ``usage_metadata``, when it holds any."""
    if not has_counts(usage):
        return
    prompt = get(usage, "prompt_token_count")
    candidates = get(usage, "candidates_token_count")
    thoughts = get(usage, "thoughts_token_count")
    tool_prompt = get(usage, "tool_use_prompt_token_count")
    record.input_tokens = count_sum(0, prompt, tool_prompt)
    record.output_tokens = count_sum(0, candidates, thoughts)
    record.reasoning_output_tokens = thoughts or None
    record.cache_read_input_tokens = get(usage, "cached_content_token_count") or None


def finish_reason(candidate: Any) -> str | None:
    """The enum's name in lower case (``stop``, ``max_tokens``, ``safety``), the same from both SDKs."""
    reason = get(candidate, "finish_reason")
    if reason is None:
        return None
    name = getattr(reason, "name", None) or str(reason)
    if name in ("FINISH_REASON_UNSPECIFIED", "0"):
        return None
    return name.lower()


def tool_call_ids(candidates: Any) -> list[str] | None:
    """Ids of the function calls asked for (Gemini gives ids only on some backends; names are not ids)."""
    ids = []
    for candidate in candidates or ():
        for part in get(get(candidate, "content"), "parts") or ():
            call = get(part, "function_call")
            call_id = get(call, "id") if call is not None else None
            if call_id:
                ids.append(call_id)
    return ids or None


# Content, only when capture is on.


def _as_dict(obj: Any) -> Any:
    if isinstance(obj, Mapping | str) or obj is None:
        return obj
    dump = getattr(obj, "model_dump", None)  # google-genai (pydantic)
    if dump is not None:
        return dump(exclude_none=True)
    to_dict = getattr(obj, "to_dict", None)  # vertexai (proto-plus wrappers)
    if to_dict is not None:
        return to_dict()
    return obj


def _pick(data: Mapping[str, Any], snake: str, camel: str) -> Any:
    return data.get(snake, data.get(camel))


def part(obj: Any) -> dict[str, Any]:
    data = _as_dict(obj)
    if isinstance(data, str):
        return {"type": "text", "content": data}
    if not isinstance(data, Mapping):
        return {"type": type(obj).__name__}
    if data.get("text") is not None:
        return {"type": "reasoning" if data.get("thought") else "text", "content": data["text"]}
    call = _pick(data, "function_call", "functionCall")
    if call:
        return {"type": "tool_call", "id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")}
    response = _pick(data, "function_response", "functionResponse")
    if response:
        return {
            "type": "tool_call_response",
            "id": response.get("id"),
            "name": response.get("name"),
            "response": response.get("response"),
        }
    blob = _pick(data, "inline_data", "inlineData")
    if blob:
        return {"type": "blob", "mime_type": _pick(blob, "mime_type", "mimeType")}
    file = _pick(data, "file_data", "fileData")
    if file:
        return {
            "type": "uri",
            "mime_type": _pick(file, "mime_type", "mimeType"),
            "uri": _pick(file, "file_uri", "fileUri"),
        }
    return {"type": next(iter(data), "unknown")}


def _role(role: Any) -> str:
    return "assistant" if role == "model" else str(role or "user")


def messages(contents: Any) -> list[dict[str, Any]]:
    """A ``contents`` argument in any accepted form (str, part, content, or a list mixing them) as messages."""
    items = contents if isinstance(contents, list | tuple) else [contents]
    out: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []  # bare strings and parts form one user turn, as the SDKs do
    for item in items:
        data = _as_dict(item)
        if isinstance(data, Mapping) and "parts" in data:
            if loose:
                out.append({"role": "user", "parts": loose})
                loose = []
            out.append({"role": _role(data.get("role")), "parts": [part(p) for p in data.get("parts") or ()]})
        else:
            loose.append(part(item))
    if loose:
        out.append({"role": "user", "parts": loose})
    return out


def system_instructions(value: Any) -> list[dict[str, Any]] | None:
    if not value:
        return None
    parts = [p for message in messages(value) for p in message["parts"]]
    return parts or None


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    out = []
    for tool in tools or ():
        data = _as_dict(tool)
        if not isinstance(data, Mapping):
            out.append({"type": "function", "name": getattr(tool, "__name__", None)})  # a Python callable
            continue
        for declaration in _pick(data, "function_declarations", "functionDeclarations") or ():
            out.append(
                {
                    "type": "function",
                    "name": declaration.get("name"),
                    "description": declaration.get("description"),
                    "parameters": declaration.get("parameters"),
                }
            )
    return out or None


def output_messages(candidates: Any) -> list[dict[str, Any]] | None:
    out = []
    for candidate in candidates or ():
        content = _as_dict(get(candidate, "content")) or {}
        parts = [part(p) for p in content.get("parts") or ()]
        out.append({"role": "assistant", "parts": parts, "finish_reason": finish_reason(candidate)})
    return out or None


# Responses and streams.


def read_response(record: CallRecord, response: Any, meta: Callable[[Any], Any], capture: bool) -> None:
    """A complete response; ``meta(response)`` holds ``response_id``/``model_version`` (a raw proto in vertexai)."""
    read_usage(record, get(response, "usage_metadata"))  # first: the fields below may not parse
    raw = meta(response)
    record.response_id = get(raw, "response_id") or None
    record.response_model = get(raw, "model_version") or None
    candidates = get(response, "candidates")
    reasons = [finish_reason(candidate) for candidate in candidates or ()]
    if any(reasons):
        record.finish_reasons = [reason or "" for reason in reasons]
    record.tool_call_ids = tool_call_ids(candidates)
    if capture:
        record.output_messages = output_messages(candidates)


class GeminiStream:
    """Accumulates streamed ``GenerateContentResponse`` chunks; the last chunk carries the usage."""

    __slots__ = ("capture", "meta", "response_id", "model", "reasons", "usage", "tool_ids", "parts")

    def __init__(self, capture: bool, meta: Callable[[Any], Any]) -> None:
        self.capture = capture
        self.meta = meta
        self.response_id: str | None = None
        self.model: str | None = None
        self.reasons: dict[int, str] = {}
        self.usage: Any = None
        self.tool_ids: list[str] = []
        self.parts: dict[int, list[Any]] = {}

    def add(self, chunk: Any) -> bool:
        raw = self.meta(chunk)
        self.response_id = self.response_id or get(raw, "response_id") or None
        self.model = self.model or get(raw, "model_version") or None
        candidates = get(chunk, "candidates") or ()
        for position, candidate in enumerate(candidates):
            index = get(candidate, "index") or position
            reason = finish_reason(candidate)
            if reason:
                self.reasons[index] = reason
            if self.capture:
                self.parts.setdefault(index, []).extend(get(get(candidate, "content"), "parts") or ())
        self.tool_ids.extend(tool_call_ids(candidates) or ())
        usage = get(chunk, "usage_metadata")
        if has_counts(usage):
            self.usage = usage
        return True

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        if self.reasons:
            record.finish_reasons = [self.reasons[index] for index in sorted(self.reasons)]
        record.tool_call_ids = self.tool_ids or None
        read_usage(record, self.usage)
        if self.capture and self.parts:
            record.output_messages = [
                {
                    "role": "assistant",
                    "parts": _merge_text([part(p) for p in self.parts[index]]),
                    "finish_reason": self.reasons.get(index),
                }
                for index in sorted(self.parts)
            ]


def _merge_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed text arrives in many parts; consecutive text (or reasoning) parts become one."""
    merged: list[dict[str, Any]] = []
    for item in parts:
        last = merged[-1] if merged else None
        if last is not None and item["type"] in ("text", "reasoning") and last["type"] == item["type"]:
            last["content"] = (last.get("content") or "") + (item.get("content") or "")
        else:
            merged.append(dict(item))
    return merged


def response_handler(telemetry: Telemetry, proxy: Any, meta: Callable[[Any], Any]) -> Any:
    """The ``handle`` of both Google SDKs: a stream gets ``proxy``, a response is read and ends the call;
    ``meta`` finds the object carrying usage and ids (the response itself, or the SDK's raw response)."""
    capture = telemetry.capture_content

    def handle(call: Call, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if call.record.stream:
            return proxy(result, call, GeminiStream(capture, meta))
        read_response(call.record, result, meta, capture)
        call.end()
        return result

    return handle
