"""google-genai: ``models.generate_content`` and ``generate_content_stream``, sync and async.

We wrap the SDK's per-request methods (``Models._generate_content`` / ``_generate_content_stream`` and their
``AsyncModels`` twins) rather than the public ones: the public methods may send several requests for one call
(automatic function calling, automatic continuation), each billed on its own, and only the per-request methods
see each response's usage. They have kept these names from 1.x through 3.x.

The provider is ``gcp.vertex_ai`` when the client uses the Vertex AI backend and ``gcp.gemini`` for the Gemini
Developer API. Usage mapping (thinking tokens added to output, cached tokens) is shared with the vertexai SDK in
:mod:`._gemini`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._stream import AsyncStreamProxy, SyncStreamProxy
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from . import _batches, _live
from . import _gemini as gemini


def _server(api_client: Any) -> tuple[str | None, int | None]:
    base_url = gemini.get(getattr(api_client, "_http_options", None), "base_url")
    if not base_url:
        return None, None
    parts = urlsplit(str(base_url))
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _build(telemetry: Telemetry, stream: bool) -> Any:
    capture = telemetry.capture_content

    def build(models: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        api_client = getattr(models, "_api_client", None)
        vertex = bool(getattr(api_client, "vertexai", False))
        address, port = _server(api_client)
        model = kwargs.get("model")
        record = CallRecord(
            operation=sc.OP_GENERATE_CONTENT,
            provider=sc.PROVIDER_VERTEX_AI if vertex else sc.PROVIDER_GEMINI,
            request_model=model if isinstance(model, str) else None,
            server_address=address,
            server_port=port,
            stream=stream,
        )
        config = kwargs.get("config")
        gemini.read_config(record, config)
        if capture:
            record.input_messages = gemini.messages(kwargs.get("contents"))
            record.system_instructions = gemini.system_instructions(gemini.get(config, "system_instruction"))
            record.tool_definitions = gemini.tool_definitions(gemini.get(config, "tools"))
        return record

    return build


def _same(response: Any) -> Any:
    return response


class GoogleGenAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``google-genai`` package (``from google import genai``)."""

    dependencies: Collection[str] = ("google-genai >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        module = "google.genai.models"
        sync_plain = gemini.response_handler(telemetry, SyncStreamProxy, _same)
        async_plain = gemini.response_handler(telemetry, AsyncStreamProxy, _same)
        yield module, "Models._generate_content", sync_wrapper(telemetry, _build(telemetry, False), sync_plain)
        yield module, "Models._generate_content_stream", sync_wrapper(telemetry, _build(telemetry, True), sync_plain)
        yield module, "AsyncModels._generate_content", async_wrapper(telemetry, _build(telemetry, False), async_plain)
        yield (
            module,
            "AsyncModels._generate_content_stream",
            async_wrapper(telemetry, _build(telemetry, True), async_plain),
        )
        # Batch mode: inlined results counted when the app gets the finished job (see _batches).
        yield "google.genai.batches", "Batches.get", _batches.get_hook(telemetry)
        yield "google.genai.batches", "AsyncBatches.get", _batches.async_get_hook(telemetry)
        # Gemini Live: a session span, a span per model turn (see _live).
        yield "google.genai.live", "AsyncLive.connect", _live.connect_hook(telemetry)
        yield "google.genai.live", "AsyncSession._receive", _live.receive_hook
        yield "google.genai.live", "AsyncSession.send_tool_response", _live.tool_response_hook
        yield "google.genai.live", "AsyncSession.close", _live.close_hook
