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

from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import SyncStreamProxy
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from . import _bodies as bodies
from . import _content as content
from . import _converse as converse

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
            converse.read_request(record, params, capture)
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
            converse.read_response(record, result, capture)
            call.end()
        elif operation == _CONVERSE_STREAM and result.get("stream") is not None:
            result["stream"] = SyncStreamProxy(result["stream"], call, converse.ConverseStream(capture))
        elif operation == _INVOKE_STREAM and result.get("body") is not None:
            bodies.read_usage_headers(record, headers)
            result["body"] = SyncStreamProxy(result["body"], call, bodies.InvokeStream(record, capture))
        elif operation == _INVOKE and result.get("body") is not None:
            error = bodies.read_invoke_response(record, result, headers, capture)
            if error is None:
                call.end()
            else:
                call.fail(error)
        else:
            call.end()
        return result

    return handle


class BedrockInstrumentor(AgentMetricsInstrumentor):
    """Instruments Bedrock Runtime calls made with ``botocore`` (and so ``boto3``)."""

    dependencies: Collection[str] = ("botocore >= 1.34.116",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield (
            "botocore.client",
            "BaseClient._make_api_call",
            sync_wrapper(telemetry, _build(telemetry), _handle(telemetry)),
        )
