"""Who answers: the provider name, ``server.address`` and ``server.port`` of an OpenAI-style client.

The ``openai`` client speaks to many OpenAI-compatible services. The conventions want the provider that serves
the call, so it is named from the client class (Azure) or the base URL's host, using the conventions'
well-known values where they exist. Unknown hosts keep ``openai`` (the wire protocol); ``server.address`` says
where they went. The answer is cached per base-URL object, so the hot path is one dict lookup.
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics import semconv as sc

# Exact hosts of hosted OpenAI-compatible APIs.
_HOSTS: dict[str, str] = {
    "api.openai.com": sc.PROVIDER_OPENAI,
    "api.groq.com": sc.PROVIDER_GROQ,
    "api.deepseek.com": sc.PROVIDER_DEEPSEEK,
    "openrouter.ai": "openrouter",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "api.mistral.ai": sc.PROVIDER_MISTRAL,
    "api.x.ai": sc.PROVIDER_X_AI,
    "api.perplexity.ai": sc.PROVIDER_PERPLEXITY,
    "api.fireworks.ai": "fireworks",
    "api.cerebras.ai": "cerebras",
    "api.cohere.ai": sc.PROVIDER_COHERE,
    "api.cohere.com": sc.PROVIDER_COHERE,
    "api.anthropic.com": sc.PROVIDER_ANTHROPIC,
    "generativelanguage.googleapis.com": sc.PROVIDER_GEMINI,
}
# Host suffixes of services with per-customer hosts.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".services.ai.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".groq.com", sc.PROVIDER_GROQ),
    (".deepseek.com", sc.PROVIDER_DEEPSEEK),
    (".openrouter.ai", "openrouter"),
    (".together.xyz", "together"),
    (".mistral.ai", sc.PROVIDER_MISTRAL),
    (".x.ai", sc.PROVIDER_X_AI),
    (".perplexity.ai", sc.PROVIDER_PERPLEXITY),
)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"})
# Default ports of local servers that speak the OpenAI wire format.
_LOCAL_PORTS: dict[int, str] = {11434: "ollama", 8000: "vllm", 1234: "lmstudio"}

Endpoint = tuple[str, str | None, int | None]
"""``(provider name, server.address, server.port)``."""

_cache: dict[int, tuple[Any, bool, Endpoint]] = {}
_classes: dict[type, tuple[bool, bool]] = {}
"""Client class -> (its base URL is read from ``_configured_base_url``, it is an Azure client)."""


def _reads_configured_url(client: Any) -> bool:
    """Whether ``client.base_url`` is the plain read of ``client._configured_base_url`` (openai 3.x's ``OpenAI``
    and ``AsyncOpenAI`` and subclasses that keep their property), which the hot path then reads directly: the
    property runs an import and two more property reads on every call. Not the module-level client (whose
    ``base_url`` follows ``openai.base_url``) nor any class that defines its own."""
    try:
        import inspect

        import openai

        prop = inspect.getattr_static(type(client), "base_url", None)
        known = [inspect.getattr_static(cls, "base_url", None) for cls in (openai.OpenAI, openai.AsyncOpenAI)]
        state = getattr(client, "__dict__", None)
        return (
            isinstance(prop, property)
            and prop in known
            and isinstance(state, dict)
            and state.get("_configured_base_url") is not None
            and state["_configured_base_url"] is client.base_url
        )
    except Exception:
        return False


def provider_for(host: str | None, port: int | None, azure: bool = False) -> str:
    """The ``gen_ai.provider.name`` of an endpoint."""
    if azure:
        return sc.PROVIDER_AZURE_OPENAI
    if not host:
        return sc.PROVIDER_OPENAI
    host = host.lower()
    known = _HOSTS.get(host)
    if known is not None:
        return known
    for suffix, name in _SUFFIXES:
        if host.endswith(suffix):
            return name
    if "ollama" in host:
        return "ollama"
    if "vllm" in host:
        return "vllm"
    if port is not None and (host in _LOCAL_HOSTS or host.endswith(".local")):
        return _LOCAL_PORTS.get(port, sc.PROVIDER_OPENAI)
    if port == 11434:
        return "ollama"
    return sc.PROVIDER_OPENAI


def endpoint_of(client: Any) -> Endpoint:
    """Provider, address and port of a client (``OpenAI``, ``AzureOpenAI`` and their async twins)."""
    cls = type(client)
    kind = _classes.get(cls)
    if kind is None:
        kind = _classes[cls] = (_reads_configured_url(client), cls.__name__.endswith("AzureOpenAI"))
    direct, azure = kind
    url = client.__dict__.get("_configured_base_url") if direct else None
    if url is None:
        # What the ``base_url`` property returns (openai 1.x and 2.x keep it in ``_base_url``).
        url = getattr(client, "_base_url", None) or client.base_url
    entry = _cache.get(id(url))
    if entry is not None and entry[0] is url and entry[1] is azure:
        return entry[2]
    host = url.host or None
    port = url.port or (443 if url.scheme == "https" else 80)
    endpoint = (provider_for(host, port, azure), host, port)
    if len(_cache) > 256:  # clients are few; a program creating thousands just recomputes
        _cache.clear()
    _cache[id(url)] = (url, azure, endpoint)
    return endpoint
