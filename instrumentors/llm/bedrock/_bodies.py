"""Bedrock ``InvokeModel`` bodies: each model family's own JSON, read by its shape rather than by the model id.

The model id cannot be trusted to name the family (inference-profile ARNs, provisioned-throughput ARNs and
imported models hide it), so request and response bodies are recognised by their keys. Token counts prefer
Bedrock's own counts (the ``x-amzn-bedrock-*-token-count`` headers and the streams'
``amazon-bedrock-invocationMetrics``, which is what Bedrock bills) over what the model body says.
"""

from __future__ import annotations

import io
import json
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics.record import CallRecord, count_sum

from . import _content as content

_INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"


def load_json(body: Any) -> Any:
    """The JSON of a request or response body given as bytes or str; ``None`` for anything else (files)."""
    if not isinstance(body, bytes | bytearray | memoryview | str):
        return None
    try:
        return json.loads(body if isinstance(body, str) else bytes(body).decode("utf-8"))
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None


def operation_for(model_id: str | None, body: Any) -> str:
    """``chat`` for message-shaped bodies, ``embeddings`` for embedding models, else ``text_completion``."""
    if isinstance(body, dict):
        if "messages" in body or "message" in body:
            return sc.OP_CHAT
        if "texts" in body or "inputImage" in body:
            return sc.OP_EMBEDDINGS
    if model_id and "embed" in model_id.lower():
        return sc.OP_EMBEDDINGS
    return sc.OP_TEXT_COMPLETION


def read_request(record: CallRecord, body: Any) -> None:
    """Fill the request parameters from any family's body (Anthropic, Nova, Titan, Llama, Mistral, Cohere)."""
    if not isinstance(body, dict):
        return
    config = body.get("inferenceConfig") or body.get("textGenerationConfig") or {}
    record.max_tokens = _first(
        body, config, "max_tokens", "max_new_tokens", "maxTokenCount", "max_gen_len", "max_tokens_to_sample"
    )
    record.temperature = _first(body, config, "temperature")
    record.top_p = _first(body, config, "top_p", "topP", "p")
    record.top_k = _first(body, config, "top_k", "topK", "k")
    stop = _first(body, config, "stop_sequences", "stopSequences", "stop")
    record.stop_sequences = [stop] if isinstance(stop, str) else stop
    record.seed = _first(body, config, "seed")


def _first(body: dict[str, Any], config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in body:
            return body[key]
        if key in config:
            return config[key]
    return None


def read_usage_headers(record: CallRecord, headers: dict[str, str]) -> None:
    """Bedrock's own token counts from the InvokeModel response headers (lower-cased by botocore)."""
    prefix = "x-amzn-bedrock-"
    _bedrock_counts(
        record,
        _int(headers.get(prefix + "input-token-count")),
        _int(headers.get(prefix + "output-token-count")),
        _int(headers.get(prefix + "cache-read-input-token-count")),
        _int(headers.get(prefix + "cache-write-input-token-count")),
    )


def read_invocation_metrics(record: CallRecord, metrics: dict[str, Any]) -> None:
    """The same counts as carried by the last chunk of a response stream."""
    _bedrock_counts(
        record,
        metrics.get("inputTokenCount"),
        metrics.get("outputTokenCount"),
        metrics.get("cacheReadInputTokenCount"),
        metrics.get("cacheWriteInputTokenCount"),
    )


def _bedrock_counts(
    record: CallRecord, inputs: int | None, outputs: int | None, cache_read: int | None, cache_write: int | None
) -> None:
    # Bedrock counts cache reads and writes apart from the input; our input counts them all.
    if inputs is not None:
        record.input_tokens = count_sum(inputs, cache_read, cache_write)
    if outputs is not None:
        record.output_tokens = outputs
    if cache_read is not None:
        record.cache_read_input_tokens = cache_read
    if cache_write is not None:
        record.cache_creation_input_tokens = cache_write


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def read_response(record: CallRecord, body: Any) -> None:
    """Response id, model, finish reasons and (when the headers had none) usage from a complete body."""
    if not isinstance(body, dict):
        return
    record.response_id = body.get("id") or body.get("response_id")
    if isinstance(body.get("model"), str):
        record.response_model = body["model"]
    reasons = _finish_reasons(body)
    if reasons:
        record.finish_reasons = reasons
    # Any field may hold any JSON value (a server or proxy that does not follow the schema): ids are read only
    # where the shapes are as documented.
    tool_ids = [block.get("id") for block in _dicts(body.get("content")) if block.get("type") == "tool_use"]
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    tool_ids += [
        block["toolUse"].get("toolUseId")
        for block in _dicts(message.get("content") if isinstance(message, dict) else None)
        if isinstance(block.get("toolUse"), dict)
    ]
    strings = [tool_id for tool_id in tool_ids if isinstance(tool_id, str)]
    if strings:
        record.tool_call_ids = strings
    if record.input_tokens is None and record.output_tokens is None:
        _body_usage(record, body)


def _dicts(items: Any) -> list[dict[str, Any]]:
    """The objects in a list field; nothing when the field is not a list."""
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _finish_reasons(body: dict[str, Any]) -> list[str] | None:
    for key in ("stop_reason", "stopReason", "finish_reason", "completionReason"):
        if isinstance(body.get(key), str):
            return [body[key]]
    for key in ("outputs", "results", "generations", "choices"):
        items = body.get(key)
        if isinstance(items, list):
            reasons = [
                item.get("stop_reason") or item.get("completionReason") or item.get("finish_reason")
                for item in items
                if isinstance(item, dict)
            ]
            found = [reason for reason in reasons if isinstance(reason, str)]
            if found:
                return found
    return None


def _body_usage(record: CallRecord, body: dict[str, Any]) -> None:
    usage = body.get("usage")
    if isinstance(usage, dict):
        if "input_tokens" in usage:  # Anthropic: input without the cached part
            read = usage.get("cache_read_input_tokens")
            write = usage.get("cache_creation_input_tokens")
            _bedrock_counts(record, usage.get("input_tokens"), usage.get("output_tokens"), read, write)
        elif "inputTokens" in usage:  # Nova
            read = usage.get("cacheReadInputTokenCount")
            write = usage.get("cacheWriteInputTokenCount")
            _bedrock_counts(record, usage.get("inputTokens"), usage.get("outputTokens"), read, write)
        elif "prompt_tokens" in usage:  # OpenAI-style bodies (gpt-oss, Mistral Large chat)
            record.input_tokens = usage.get("prompt_tokens")
            record.output_tokens = usage.get("completion_tokens")
        return
    if "prompt_token_count" in body:  # Llama
        record.input_tokens = body.get("prompt_token_count")
        record.output_tokens = body.get("generation_token_count")
    elif "inputTextTokenCount" in body:  # Titan text and embeddings
        record.input_tokens = body["inputTextTokenCount"]
        results = body.get("results")
        if isinstance(results, list):
            record.output_tokens = count_sum(0, *(result.get("tokenCount") for result in _dicts(results)))


class InvokeStream:
    """Accumulates the ``{"chunk": {"bytes": ...}}`` events of InvokeModelWithResponseStream, any family."""

    __slots__ = ("record", "capture", "usage_seen", "metrics", "reasons", "text", "tool_calls")

    def __init__(self, record: CallRecord, capture: bool) -> None:
        self.record = record
        self.capture = capture
        self.metrics: dict[str, Any] | None = None
        self.reasons: list[str] = []
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.usage_seen = CallRecord(operation=record.operation, provider=record.provider)

    def add(self, event: Any) -> bool:
        chunk = event.get("chunk") if isinstance(event, dict) else None
        if chunk is None:
            return True
        data = load_json(chunk.get("bytes"))
        if isinstance(data, dict):
            self._read(data)
        return True

    def _read(self, data: dict[str, Any]) -> None:
        if _INVOCATION_METRICS in data:
            self.metrics = data[_INVOCATION_METRICS]
        kind = data.get("type")
        seen = self.usage_seen
        if kind == "message_start":  # Anthropic
            message = data.get("message") or {}
            self.record.response_id = message.get("id")
            self.record.response_model = message.get("model")
            _body_usage(seen, message)
        elif kind == "message_delta":
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                self.reasons.append(reason)
            if (data.get("usage") or {}).get("output_tokens") is not None:
                seen.output_tokens = data["usage"]["output_tokens"]
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tool_calls[data.get("index", 0)] = {"id": block.get("id"), "name": block.get("name"), "args": ""}
        elif kind == "content_block_delta":
            self._anthropic_delta(data)
        elif kind is None:
            self._other(data, seen)

    def _anthropic_delta(self, data: dict[str, Any]) -> None:
        if not self.capture:
            return
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            self.text.append(delta.get("text") or "")
        elif delta.get("type") == "input_json_delta" and data.get("index") in self.tool_calls:
            self.tool_calls[data["index"]]["args"] += delta.get("partial_json") or ""

    def _other(self, data: dict[str, Any], seen: CallRecord) -> None:
        if "messageStop" in data:  # Nova
            self.reasons.append(data["messageStop"].get("stopReason"))
        elif "metadata" in data:
            _body_usage(seen, data["metadata"])
        elif "contentBlockDelta" in data:
            if self.capture:
                self.text.append(((data["contentBlockDelta"].get("delta") or {}).get("text")) or "")
        elif "contentBlockStart" in data:
            start = (data["contentBlockStart"].get("start") or {}).get("toolUse")
            if start:
                index = data["contentBlockStart"].get("contentBlockIndex", 0)
                self.tool_calls[index] = {"id": start.get("toolUseId"), "name": start.get("name"), "args": ""}
        else:  # Llama, Mistral, Titan, Cohere: one flat object per chunk
            # Titan's own counts: all a stream stopped by a guardrail reports (no invocation metrics then).
            if data.get("inputTextTokenCount") is not None:
                seen.input_tokens = data["inputTextTokenCount"]
            if data.get("totalOutputTextTokenCount") is not None:
                seen.output_tokens = data["totalOutputTextTokenCount"]
            reasons = _finish_reasons(data)
            if reasons:
                self.reasons.extend(reasons)
            if self.capture:
                self.text.append(_flat_text(data))

    def finish(self, record: CallRecord) -> None:
        if self.reasons:
            record.finish_reasons = [reason for reason in self.reasons if reason]
        ids = [call["id"] for _, call in sorted(self.tool_calls.items()) if call.get("id")]
        if ids:
            record.tool_call_ids = ids
        if self.metrics is not None:
            read_invocation_metrics(record, self.metrics)
        if record.input_tokens is None:
            record.input_tokens = self.usage_seen.input_tokens
            record.cache_read_input_tokens = self.usage_seen.cache_read_input_tokens
            record.cache_creation_input_tokens = self.usage_seen.cache_creation_input_tokens
        if record.output_tokens is None:
            record.output_tokens = self.usage_seen.output_tokens
        if self.capture:
            parts: list[dict[str, Any]] = []
            if self.text:
                parts.append({"type": "text", "content": "".join(self.text)})
            for _, call in sorted(self.tool_calls.items()):
                parts.append({"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": call["args"]})
            if parts:
                reason = record.finish_reasons[-1] if record.finish_reasons else None
                record.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": reason}]


def _flat_text(data: dict[str, Any]) -> str:
    for key in ("generation", "outputText", "text", "completion"):
        if isinstance(data.get(key), str):
            return str(data[key])
    for key in ("outputs", "generations"):
        items = data.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return str(items[0].get("text") or "")
    return ""


def read_invoke_response(
    record: CallRecord, result: dict[str, Any], headers: dict[str, str], capture: bool
) -> Exception | None:
    from botocore.response import StreamingBody

    try:
        raw = result["body"].read()
    except Exception as error:  # the connection broke mid-body: the user meets the same error on read
        result["body"] = StreamingBody(_Broken(error), 0)
        return error
    result["body"] = StreamingBody(io.BytesIO(raw), len(raw))
    read_usage_headers(record, headers)
    body = load_json(raw)
    read_response(record, body)
    if capture and isinstance(body, dict):
        finish = record.finish_reasons[0] if record.finish_reasons else None
        record.output_messages = content.response_content(body, finish)
    return None


class _Broken(io.RawIOBase):
    """A body whose read raises the error the original body raised when we read it first."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, size: int = -1) -> bytes:
        raise self.error
