"""Anthropic request arguments -> :class:`CallRecord`: provider, server, model and sampling parameters.

Shared by ``messages.create``/``parse``/``stream`` (first-party, beta, Bedrock, Vertex) and the legacy
``completions.create``: sync and async differ only in the call line, which lives in the wrappers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from otel_agentmetrics import semconv as sc
from otel_agentmetrics.record import CallRecord

from . import _content as content

_PROVIDER_BY_BASE_CLASS = {"BaseBedrockClient": sc.PROVIDER_BEDROCK, "BaseVertexClient": sc.PROVIDER_VERTEX_AI}
_providers: dict[type, str] = {}


def provider_of(client: Any) -> str:
    """The client's own GenAI provider name (anthropic 2.x declares it), else its cloud by base class."""
    cls = type(client)
    provider = _providers.get(cls)
    if provider is None:
        provider = getattr(cls, "_gen_ai_provider_name", None)
        if not isinstance(provider, str):
            names = {base.__name__ for base in cls.__mro__}
            provider = next((p for n, p in _PROVIDER_BY_BASE_CLASS.items() if n in names), sc.PROVIDER_ANTHROPIC)
        _providers[cls] = provider
    return provider


def server_of(client: Any) -> tuple[str | None, int | None]:
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return None, None
    host = getattr(base_url, "host", None)  # an httpx URL: parsed already, no need to parse its text again
    if host is None:
        parts = urlsplit(str(base_url))
        host, port, scheme = parts.hostname, parts.port, parts.scheme
    else:
        port, scheme = base_url.port, base_url.scheme
    return host, port or (80 if scheme == "http" else 443)


def _given(value: Any) -> Any:
    """The SDK's ``omit``/``NOT_GIVEN`` sentinels are falsy objects that are not ``None``: treat them as absent."""
    return value if value is None or value or isinstance(value, (int, float, str, list, tuple)) else None


def request_record(
    instance: Any, kwargs: dict[str, Any], *, operation: str, capture: bool, stream: bool | None = None
) -> CallRecord:
    client = getattr(instance, "_client", None)
    address, port = server_of(client)
    extra = kwargs.get("extra_body")
    if isinstance(extra, dict) and extra:
        # anthropic 2.x dropped sampling parameters from the signature; they travel in ``extra_body``.
        kwargs = {**extra, **kwargs}
    stops = _given(kwargs.get("stop_sequences"))
    record = CallRecord(
        operation=operation,
        provider=provider_of(client),
        request_model=_given(kwargs.get("model")),
        server_address=address,
        server_port=port,
        max_tokens=_given(kwargs.get("max_tokens", kwargs.get("max_tokens_to_sample"))),
        temperature=_given(kwargs.get("temperature")),
        top_p=_given(kwargs.get("top_p")),
        top_k=_given(kwargs.get("top_k")),
        stop_sequences=list(stops) if stops else None,
        stream=bool(_given(kwargs.get("stream"))) if stream is None else stream,
        # anthropic 2.12's `open_telemetry={"conversation_id": ...}` client option: kept, though its span is ours.
        conversation_id=getattr(getattr(client, "_otel", None), "conversation_id", None),
    )
    if capture:
        record.input_messages = content.input_messages(_given(kwargs.get("messages")))
        if record.input_messages is None and isinstance(prompt := kwargs.get("prompt"), str):
            record.input_messages = [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
        record.system_instructions = content.system_instructions(_given(kwargs.get("system")))
        record.tool_definitions = content.tool_definitions(_given(kwargs.get("tools")))
    return record
