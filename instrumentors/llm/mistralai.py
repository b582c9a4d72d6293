"""Mistral AI: chat ``complete``/``stream`` and embeddings through the ``mistralai`` client, sync and async.

Mistral's responses are OpenAI-shaped, so the shared readers do the work; its own quirks are ``random_seed`` and
streamed events that wrap each chunk in ``.data``. Both the 1.x layout (``mistralai.chat``) and the 2.x+ one
(``mistralai.client.chat``) are patched, whichever is installed, and so are the Azure AI Foundry client
(``MistralAzure``, provider ``azure.ai.inference``) and the Vertex AI one (``MistralGCP``, ``gcp.vertex_ai``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from ._common import given, server_of
from ._openai_like import ChatAPI, EmbeddingsAPI

# (package, provider, has embeddings): 2.x and later, 1.x, and the Azure AI Foundry and Vertex AI clients.
_LAYOUTS = (
    ("mistralai.client", sc.PROVIDER_MISTRAL, True),
    ("mistralai", sc.PROVIDER_MISTRAL, True),
    ("mistralai.azure.client", sc.PROVIDER_AZURE_AI_INFERENCE, False),
    ("mistralai.gcp.client", sc.PROVIDER_VERTEX_AI, False),
)


def _server(instance: Any, kwargs: dict[str, Any]) -> tuple[str | None, int | None]:
    url = given(kwargs.get("server_url"))
    if url is None:
        url, *_ = instance.sdk_configuration.get_server_details()
    return server_of(url)


class MistralAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``mistralai`` package."""

    dependencies: Collection[str] = ("mistralai >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        options: dict[str, Any] = {"seed_key": "random_seed", "chunk_field": "data"}
        for package, provider, has_embeddings in _LAYOUTS:
            complete = ChatAPI(telemetry, provider, _server, streams=False, **options)
            stream = ChatAPI(telemetry, provider, _server, streams=True, **options)
            chat = f"{package}.chat"
            yield chat, "Chat.complete", sync_wrapper(telemetry, complete.build, complete.handle_sync)
            yield chat, "Chat.complete_async", async_wrapper(telemetry, complete.build, complete.handle_async)
            yield chat, "Chat.stream", sync_wrapper(telemetry, stream.build, stream.handle_sync)
            yield chat, "Chat.stream_async", async_wrapper(telemetry, stream.build, stream.handle_async)
            if has_embeddings:
                embed, embeddings = EmbeddingsAPI(provider, _server), f"{package}.embeddings"
                yield embeddings, "Embeddings.create", sync_wrapper(telemetry, embed.build, embed.handle)
                yield embeddings, "Embeddings.create_async", async_wrapper(telemetry, embed.build, embed.handle)
