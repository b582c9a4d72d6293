"""Test kit for the Anthropic instrumentor: real ``anthropic`` clients over recorded or documented HTTP bodies.

``cassette_client`` replays ``tests/cassettes/anthropic/``. Where no recording exists (prompt caching with
non-zero counts, thinking-token details, streamed tool use, Bedrock and Vertex clients, legacy completions),
``wire_client`` answers with a body written from Anthropic's documented wire format
(https://docs.anthropic.com/en/api/messages, .../messages-streaming): the client still serialises, sends,
parses and streams it with its own code. Works with anthropic 2.x (``httpx2``) and older releases (``httpx``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor
from otel_agentmetrics.pricing import Pricer

from .replay import Cassette, http_module_of

HTTPX = http_module_of(anthropic)
MODEL = "claude-sonnet-4-20250514"
HELLO = [{"role": "user", "content": "Say hello in one word."}]

# Anthropic's published prices, USD per million tokens (https://www.anthropic.com/pricing#api).
SONNET_4 = {"input": 3.00, "output": 15.00, "cache_write_5m": 3.75, "cache_read": 0.30}
HAIKU_3_5 = {"input": 0.80, "output": 4.00}


def usd(tokens: int, per_million: float) -> float:
    return tokens * per_million / 1_000_000


_pricer: Pricer | None = None


def loaded_pricer() -> Pricer:
    """One pricer per session, its table loaded up front: a loaded machine must not make a cost go missing."""
    global _pricer
    if _pricer is None:
        _pricer = Pricer()
        _pricer.load()
    return _pricer


def instrument(otel: Any, capture_content: Any = None) -> AnthropicInstrumentor:
    instrumentor = AnthropicInstrumentor()
    telemetry = Telemetry(
        otel.tracer_provider, otel.meter_provider, capture_content=capture_content, pricer=loaded_pricer()
    )
    instrumentor.instrument(telemetry=telemetry)
    return instrumentor


def _client(transport: Any, is_async: bool, **options: Any) -> Any:
    if is_async:
        return anthropic.AsyncAnthropic(
            api_key="test_anthropic_api_key", http_client=HTTPX.AsyncClient(transport=transport), **options
        )
    http_client = HTTPX.Client(transport=transport)
    return anthropic.Anthropic(api_key="test_anthropic_api_key", http_client=http_client, **options)


def _over_the_wire(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Serve a body as a network stream, unread until the client reads it (a MockTransport's is read already)."""

    def handle(request: Any) -> Any:
        response = handler(request)
        return HTTPX.Response(
            response.status_code,
            headers=response.headers,
            stream=HTTPX.ByteStream(response.content),
            request=request,
        )

    return handle


def cassette_client(name: str, is_async: bool = False, **options: Any) -> Any:
    cassette = Cassette(f"anthropic/{name}")
    transport = HTTPX.MockTransport(_over_the_wire(cassette.handler(HTTPX)))
    client = _client(transport, is_async, max_retries=0, **options)
    client.cassette = cassette
    return client


class Wire:
    """A transport that answers every request with one documented body and keeps the requests it saw."""

    def __init__(self, body: Any, status: int = 200, sse: bool = False) -> None:
        self.body, self.status, self.sse = body, status, sse
        self.requests: list[Any] = []

    def handle(self, request: Any) -> Any:
        self.requests.append(request)
        if self.sse:
            return HTTPX.Response(
                self.status, headers={"content-type": "text/event-stream"}, content=self.body.encode(), request=request
            )
        return HTTPX.Response(self.status, json=self.body, request=request)

    def transport(self) -> Any:
        return HTTPX.MockTransport(_over_the_wire(self.handle))


def wire_client(body: Any, is_async: bool = False, sse: bool = False, factory: Callable[..., Any] | None = None) -> Any:
    wire = Wire(body, sse=sse)
    if factory is None:
        client = _client(wire.transport(), is_async, max_retries=0)
    else:
        client_module = HTTPX.AsyncClient if is_async else HTTPX.Client
        client = factory(http_client=client_module(transport=wire.transport()), max_retries=0)
    client.wire = wire
    return client


def sse(*events: dict[str, Any]) -> str:
    """A server-sent-event body, as the Messages API streams it."""
    return "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events)


def message_body(content: list[dict[str, Any]], usage: dict[str, Any], stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_wire_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def metric_sum(otel: Any, name: str, **attributes: Any) -> float:
    """The summed value of one histogram's points whose attributes include ``attributes``."""
    total = 0.0
    for point in otel.metric_points(name):
        if all(point.attributes.get(key) == value for key, value in attributes.items()):
            total += point.sum
    return total
