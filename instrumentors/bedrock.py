"""AWS Bedrock Runtime through botocore: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream.

We wrap ``botocore.client.BaseClient._make_api_call``, the one method every botocore (and so boto3 and
aiobotocore-free) operation goes through, as the contrib botocore instrumentation does: it sees the operation
name and parameters as the user gave them and the parsed response, for any client created before or after
``instrument()``. Calls to other services or operations cost one dictionary look-up and go on untouched.

Streams: the response's ``EventStream`` (``stream`` for ConverseStream, ``body`` for
InvokeModelWithResponseStream) is replaced by the core's stream proxy, which yields the same events and ends the
span once. InvokeModel's ``body`` is read once, parsed, and replaced by an equivalent ``StreamingBody`` over the
same bytes. The request model is the ``modelId`` exactly as given (region-prefixed inference profiles such as
``us.anthropic...`` and ARNs included); the pricer resolves it.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord, count_sum

from . import _bedrock_bodies as bodies
from . import _bedrock_content as content

_CONVERSE = "Converse"
_CONVERSE_STREAM = "ConverseStream"
_INVOKE = "InvokeModel"
_INVOKE_STREAM = "InvokeModelWithResponseStream"
_OPERATIONS = frozenset((_CONVERSE, _CONVERSE_STREAM, _INVOKE, _INVOKE_STREAM))
_SERVICE = "bedrock-runtime"


def _server(client: Any) -> tuple[str | None, int | None]:
    parts = urlsplit(client.meta.endpoint_url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _build(telemetry: Telemetry) -> Any:
    capture = telemetry.capture_content

    def build(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord | None:
        operation = args[0] if args else kwargs.get("operation_name")
        if operation not in _OPERATIONS or client.meta.service_model.service_name != _SERVICE:
            return None
        params = (args[1] if len(args) > 1 else kwargs.get("api_params")) or {}
        model_id = params.get("modelId")
        if not isinstance(model_id, str):
            model_id = None  # botocore will reject the call; the span still says what happened
        address, port = _server(client)
        if operation in (_CONVERSE, _CONVERSE_STREAM):
            record = CallRecord(
                operation=sc.OP_CHAT,
                provider=sc.PROVIDER_BEDROCK,
                request_model=model_id,
                server_address=address,
                server_port=port,
                stream=operation == _CONVERSE_STREAM,
            )
            _converse_request(record, params, capture)
            return record
        body = bodies.load_json(params.get("body"))
        record = CallRecord(
            operation=bodies.operation_for(model_id, body),
            provider=sc.PROVIDER_BEDROCK,
            request_model=model_id,
            server_address=address,
            server_port=port,
            stream=operation == _INVOKE_STREAM,
        )
        bodies.read_request(record, body)
        if capture and isinstance(body, dict):
            for key, value in content.request_content(body).items():
                setattr(record, key, value)
        return record

    return build


def _converse_request(record: CallRecord, params: dict[str, Any], capture: bool) -> None:
    config = params.get("inferenceConfig") or {}
    record.max_tokens = config.get("maxTokens")
    record.temperature = config.get("temperature")
    record.top_p = config.get("topP")
    record.stop_sequences = config.get("stopSequences")
    if capture:
        record.input_messages = content.messages(params.get("messages"))
        record.system_instructions = content.system(params.get("system"))
        record.tool_definitions = content.converse_tools(params.get("toolConfig"))


def _converse_usage(record: CallRecord, usage: Any) -> None:
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


def _request_id(record: CallRecord, result: dict[str, Any]) -> dict[str, str]:
    metadata = result.get("ResponseMetadata") or {}
    if metadata.get("RequestId"):
        record.attributes["aws.request_id"] = metadata["RequestId"]
    return metadata.get("HTTPHeaders") or {}


def _handle(telemetry: Telemetry) -> Any:
    capture = telemetry.capture_content

    def handle(call: Call, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not isinstance(result, dict):
            call.end()
            return result
        record = call.record
        operation = args[0] if args else kwargs.get("operation_name")
        headers = _request_id(record, result)
        if operation == _CONVERSE:
            _converse_response(record, result, capture)
            call.end()
        elif operation == _CONVERSE_STREAM and result.get("stream") is not None:
            result["stream"] = SyncStreamProxy(result["stream"], call, _ConverseStream(capture))
        elif operation == _INVOKE_STREAM and result.get("body") is not None:
            bodies.read_usage_headers(record, headers)
            result["body"] = SyncStreamProxy(result["body"], call, bodies.InvokeStream(record, capture))
        elif operation == _INVOKE and result.get("body") is not None:
            error = _invoke_response(record, result, headers, capture)
            if error is None:
                call.end()
            else:
                call.fail(error)
        else:
            call.end()
        return result

    return handle


def _converse_response(record: CallRecord, result: dict[str, Any], capture: bool) -> None:
    if result.get("stopReason"):
        record.finish_reasons = [result["stopReason"]]
    _converse_usage(record, result.get("usage"))
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


def _invoke_response(
    record: CallRecord, result: dict[str, Any], headers: dict[str, str], capture: bool
) -> Exception | None:
    from botocore.response import StreamingBody

    try:
        raw = result["body"].read()
    except Exception as error:  # the connection broke mid-body: the user meets the same error on read
        result["body"] = StreamingBody(_Broken(error), 0)
        return error
    result["body"] = StreamingBody(io.BytesIO(raw), len(raw))
    bodies.read_usage_headers(record, headers)
    body = bodies.load_json(raw)
    bodies.read_response(record, body)
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


class _ConverseStream:
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
        _converse_usage(record, self.usage)
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


class BedrockInstrumentor(AgentMetricsInstrumentor):
    """Instruments Bedrock Runtime calls made with ``botocore`` (and so ``boto3``)."""

    dependencies: Collection[str] = ("botocore >= 1.34.116",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield (
            "botocore.client",
            "BaseClient._make_api_call",
            sync_wrapper(telemetry, _build(telemetry), _handle(telemetry)),
        )
