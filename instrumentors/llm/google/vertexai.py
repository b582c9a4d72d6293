"""The ``vertexai`` SDK (``google-cloud-aiplatform``): ``GenerativeModel.generate_content`` and
``generate_content_async``, streaming or not, and so ``ChatSession.send_message`` too.

We wrap the four per-request methods of ``_GenerativeModel`` (the base of both the GA and the preview
``GenerativeModel``), which see the model's defaults and the call's overrides, whatever the transport (gRPC or
REST). The response is the same Gemini response google-genai returns, so usage is read by :mod:`._gemini`.
Google has deprecated this SDK in favour of google-genai; it keeps working and many users still call it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from . import _gemini as gemini

_MODULE = "vertexai.generative_models._generative_models"


def _model_id(name: Any) -> str | None:
    """``publishers/google/models/gemini-2.5-pro`` (or a full resource name) -> ``gemini-2.5-pro``."""
    if not isinstance(name, str):
        return None
    return name.rsplit("/models/", 1)[-1] if "/models/" in name else name


def _host(model: Any) -> str | None:
    from google.cloud.aiplatform import initializer  # already imported by vertexai itself

    endpoint = initializer.global_config.api_endpoint
    if endpoint:
        return str(endpoint).split("://")[-1].split(":")[0].split("/")[0]
    location = getattr(model, "_location", None)
    return f"{location}-aiplatform.googleapis.com" if location else None


def _config_dict(config: Any) -> Any:
    """Only the fields the user set: an unset proto float reads 0.0, which is not a temperature anyone chose."""
    raw = getattr(config, "_raw_generation_config", config)  # GenerationConfig wraps the gapic message
    pb = getattr(raw, "_pb", None)
    if pb is not None:
        # Proto floats are 32-bit: 0.1 comes back as 0.10000000149011612; show what the user wrote.
        return {f.name: float(f"{v:.7g}") if isinstance(v, float) else v for f, v in pb.ListFields()}
    return config


def _build(telemetry: Telemetry, stream: bool) -> Any:
    capture = telemetry.capture_content

    def build(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        host = _host(model)
        record = CallRecord(
            operation=sc.OP_GENERATE_CONTENT,
            provider=sc.PROVIDER_VERTEX_AI,
            request_model=_model_id(getattr(model, "_model_name", None)),
            server_address=host,
            server_port=443 if host else None,
            stream=stream,
        )
        gemini.read_config(record, _config_dict(kwargs.get("generation_config") or model._generation_config))
        if capture:
            contents = args[0] if args else kwargs.get("contents")
            record.input_messages = gemini.messages(contents)
            record.system_instructions = gemini.system_instructions(getattr(model, "_system_instruction", None))
            record.tool_definitions = gemini.tool_definitions(kwargs.get("tools") or model._tools)
        return record

    return build


def _raw(response: Any) -> Any:
    return getattr(response, "_raw_response", None)


class VertexAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``vertexai.generative_models`` from ``google-cloud-aiplatform``."""

    dependencies: Collection[str] = ("google-cloud-aiplatform >= 1.60",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        plain, streamed = _build(telemetry, False), _build(telemetry, True)
        sync_handle, async_handle = (
            gemini.response_handler(telemetry, SyncStreamProxy, _raw),
            gemini.response_handler(telemetry, AsyncStreamProxy, _raw),
        )
        owner = "_GenerativeModel."
        yield _MODULE, owner + "_generate_content", sync_wrapper(telemetry, plain, sync_handle)
        yield _MODULE, owner + "_generate_content_streaming", sync_wrapper(telemetry, streamed, sync_handle)
        yield _MODULE, owner + "_generate_content_async", async_wrapper(telemetry, plain, async_handle)
        yield _MODULE, owner + "_generate_content_streaming_async", async_wrapper(telemetry, streamed, async_handle)
