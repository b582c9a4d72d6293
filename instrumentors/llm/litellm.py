"""LiteLLM: ``completion``/``acompletion`` (streaming or not) and ``embedding``/``aembedding``.

The provider comes from the model prefix (``groq/llama-3.3-70b`` -> ``groq``) through LiteLLM's own
``get_llm_provider``, named as the conventions name it (``mistral`` -> ``mistral_ai``, ``bedrock`` ->
``aws.bedrock`` ...). LiteLLM's responses are OpenAI-shaped, so the shared readers do the rest.

One span per call: the LiteLLM call is the outer layer and owns the span. When LiteLLM calls an instrumented
client in turn (the ``openai`` SDK, for OpenAI and OpenAI-compatible providers), the core's wrapper sees a model
call already open and adds nothing. LiteLLM's own OpenTelemetry callback (``litellm.callbacks = ["otel"]``)
would report the same call again (a ``litellm_request`` span with the same token attributes, and the same
GenAI metrics when ``LITELLM_OTEL_INTEGRATION_ENABLE_METRICS=true``): we warn once and leave it to the user.

Patched: the ``litellm`` module's functions. ``from litellm import completion`` done before ``instrument()``
keeps the unpatched function, as with any module-level function.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import logger
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

from ._common import given, server_of
from ._openai_like import ChatAPI, EmbeddingsAPI

# LiteLLM's provider names -> the conventions' names; anything else is reported under LiteLLM's own name.
_PROVIDERS = {
    "openai": sc.PROVIDER_OPENAI,
    "text-completion-openai": sc.PROVIDER_OPENAI,
    "azure": sc.PROVIDER_AZURE_OPENAI,
    "azure_text": sc.PROVIDER_AZURE_OPENAI,
    "anthropic": sc.PROVIDER_ANTHROPIC,
    "bedrock": sc.PROVIDER_BEDROCK,
    "sagemaker": "aws.sagemaker",
    "vertex_ai": sc.PROVIDER_VERTEX_AI,
    "vertex_ai_beta": sc.PROVIDER_VERTEX_AI,
    "gemini": sc.PROVIDER_GEMINI,
    "mistral": sc.PROVIDER_MISTRAL,
    "codestral": sc.PROVIDER_MISTRAL,
    "cohere": sc.PROVIDER_COHERE,
    "cohere_chat": sc.PROVIDER_COHERE,
    "groq": sc.PROVIDER_GROQ,
    "deepseek": sc.PROVIDER_DEEPSEEK,
    "xai": sc.PROVIDER_X_AI,
    "perplexity": sc.PROVIDER_PERPLEXITY,
    "ollama": "ollama",
    "ollama_chat": "ollama",
}
# Where a provider's requests go when the call names no api_base and LiteLLM's lookup returns none.
_DEFAULT_BASES = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "mistral": "https://api.mistral.ai",
    "cohere": "https://api.cohere.com",
    "cohere_chat": "https://api.cohere.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "deepseek": "https://api.deepseek.com",
    "xai": "https://api.x.ai",
    "ollama": "http://localhost:11434",
    "ollama_chat": "http://localhost:11434",
}


class _Target:
    """Provider and server of one call, resolved once per call from the model prefix."""

    __slots__ = ("provider", "address", "port")

    def __init__(self, kwargs: dict[str, Any]) -> None:
        import litellm

        _warn_if_litellm_otel_on(litellm)
        model = kwargs.get("model") or ""
        api_base = given(kwargs.get("api_base")) or given(kwargs.get("base_url"))
        try:
            _, name, _, found_base = litellm.get_llm_provider(
                model=model, custom_llm_provider=given(kwargs.get("custom_llm_provider")), api_base=api_base
            )
        except Exception:  # LiteLLM raises for a model it cannot map; the call itself will say so
            name, found_base = "litellm", None
        self.provider = _PROVIDERS.get(name, name)
        self.address, self.port = server_of(api_base or found_base or _DEFAULT_BASES.get(name))


def _with_positional(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return dict(zip(names, args, strict=False), **kwargs) if args else kwargs


class _Chat(ChatAPI):
    def __init__(self, telemetry: Telemetry) -> None:
        super().__init__(telemetry, "litellm", lambda instance, kwargs: (None, None))

    def build(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        kwargs = _with_positional(args, kwargs, ("model", "messages"))
        target = _Target(kwargs)
        return self.request(kwargs, target.provider, target.address, target.port)


class _Embeddings(EmbeddingsAPI):
    def __init__(self) -> None:
        super().__init__("litellm", lambda instance, kwargs: (None, None))

    def build(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecord:
        kwargs = _with_positional(args, kwargs, ("model", "input"))
        target = _Target(kwargs)
        record = super().build(instance, args, kwargs)
        record.provider, record.server_address, record.server_port = target.provider, target.address, target.port
        return record


_warned_otel = False


def _warn_if_litellm_otel_on(litellm: Any) -> None:
    global _warned_otel
    if _warned_otel:
        return
    for callbacks in (getattr(litellm, "callbacks", None), getattr(litellm, "success_callback", None)):
        for callback in callbacks or ():
            if callback == "otel" or type(callback).__name__ == "OpenTelemetry":
                _warned_otel = True
                logger.warning(
                    "otel-agentmetrics: LiteLLM's own OpenTelemetry callback is on, so each LiteLLM call is "
                    'reported twice (its litellm_request span and ours). Remove "otel" from litellm.callbacks '
                    "to count tokens and dollars once."
                )
                return


class LiteLLMInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``litellm`` package's completion and embedding functions."""

    dependencies: Collection[str] = ("litellm >= 1.50",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        chat, embed = _Chat(telemetry), _Embeddings()
        yield "litellm", "completion", sync_wrapper(telemetry, chat.build, chat.handle_sync)
        yield "litellm", "acompletion", async_wrapper(telemetry, chat.build, chat.handle_async)
        yield "litellm", "embedding", sync_wrapper(telemetry, embed.build, embed.handle)
        yield "litellm", "aembedding", async_wrapper(telemetry, embed.build, embed.handle)
