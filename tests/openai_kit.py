"""Shared kit of the OpenAI tests: the real ``openai`` client over replayed cassettes, instrumented or not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import yaml

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .replay import CASSETTES, Cassette, http_module_of

httpx = http_module_of(openai)


def instrument(otel: Any, capture: bool | str = False, stream_usage: bool = False) -> OpenAIInstrumentor:
    instrumentor = OpenAIInstrumentor()
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=capture)
    instrumentor.instrument(telemetry=telemetry, settings=resolve(stream_usage=stream_usage))
    return instrumentor


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def capturing(otel: Any) -> Iterator[Any]:
    instrumentor = instrument(otel, capture=True)
    yield otel
    instrumentor.uninstrument()


def client_for(name: str, *, is_async: bool = False, cls: Any = None, **kwargs: Any) -> Any:
    """A real client whose HTTP goes to the recorded interactions of one cassette (``openai/<name>``)."""
    cassette = Cassette(f"openai/{name}")
    kwargs.setdefault("api_key", "test_openai_api_key")
    kwargs.setdefault("max_retries", 0)
    if is_async:
        http = httpx.AsyncClient(transport=cassette.transport(httpx))
        return (cls or openai.AsyncOpenAI)(http_client=http, **kwargs)
    return (cls or openai.OpenAI)(http_client=httpx.Client(transport=cassette.transport(httpx)), **kwargs)


def client_answering(handler: Any, *, is_async: bool = False, cls: Any = None, **kwargs: Any) -> Any:
    """A real client whose HTTP is answered by ``handler(request) -> httpx response`` (documented wire format)."""
    kwargs.setdefault("api_key", "test_openai_api_key")
    kwargs.setdefault("max_retries", 0)
    transport = httpx.MockTransport(handler)
    if is_async:
        return (cls or openai.AsyncOpenAI)(http_client=httpx.AsyncClient(transport=transport), **kwargs)
    return (cls or openai.OpenAI)(http_client=httpx.Client(transport=transport), **kwargs)


def recorded(name: str, index: int = 0) -> tuple[dict[str, Any], int, str]:
    """``(request body, response status, response body text)`` of one recorded interaction."""
    data = yaml.load((CASSETTES / "openai" / f"{name}.yaml").read_text(), Loader=yaml.Loader)
    interaction = data["interactions"][index]
    body = interaction["response"]["body"]
    text = body.get("string", "") if isinstance(body, dict) else body
    if isinstance(text, bytes):
        text = text.decode()
    return json.loads(interaction["request"]["body"]), interaction["response"]["status"]["code"], text


def sse_data(text: str) -> list[dict[str, Any]]:
    """The JSON payloads of a recorded server-sent-events body (independent of the client's parser)."""
    out = []
    for line in text.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload and payload != "[DONE]":
                out.append(json.loads(payload))
    return out


def point_attrs(otel: Any, metric: str) -> list[tuple[dict[str, Any], Any]]:
    return [(dict(p.attributes), p) for p in otel.metric_points(metric)]


def chat_helpers(client: Any) -> Any:
    """Where ``parse``/``stream`` live: ``chat.completions`` today, ``beta.chat.completions`` before openai 1.92."""
    completions = client.chat.completions
    return completions if hasattr(completions, "stream") else client.beta.chat.completions
