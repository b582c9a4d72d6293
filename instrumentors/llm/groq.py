"""Groq: chat completions through the ``groq`` client, read with the shared OpenAI-shaped readers."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from ._common import server_of
from ._openai_like import ChatAPI


def _server(instance: Any, kwargs: dict[str, Any]) -> tuple[str | None, int | None]:
    return server_of(getattr(getattr(instance, "_client", None), "base_url", None))


class GroqInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``groq`` package (sync and async, streaming or not)."""

    dependencies: Collection[str] = ("groq >= 0.9",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        chat = ChatAPI(telemetry, sc.PROVIDER_GROQ, _server)
        module = "groq.resources.chat.completions"
        yield module, "Completions.create", sync_wrapper(telemetry, chat.build, chat.handle_sync)
        yield module, "AsyncCompletions.create", async_wrapper(telemetry, chat.build, chat.handle_async)
