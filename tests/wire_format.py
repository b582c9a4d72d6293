"""Responses built from a provider's documented wire format, served to the real client through its HTTP layer.

For providers with no recorded traffic in ``tests/cassettes``: each test module writes the bodies the provider's
API reference documents (and says which page), and this kit serves them through an ``httpx``/``httpx2``
``MockTransport``, so the client's own serialisation, SSE/NDJSON parsing, error mapping and response types run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


def sse(events: Iterable[Any], done: bool = True) -> bytes:
    """Server-sent events: one ``data:`` line per event (JSON unless already a string), then ``[DONE]``."""
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def typed_sse(events: Iterable[dict[str, Any]]) -> bytes:
    """Server-sent events that name their type (``event: <type>``), as Cohere's v2 stream does."""
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def ndjson(parts: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(p) + "\n" for p in parts).encode()


class Wire:
    """Answers every request with the next queued ``(status, body, content type)``; keeps the requests."""

    def __init__(self, httpx_module: Any) -> None:
        self.httpx = httpx_module
        self.queue: list[tuple[int, bytes, str]] = []
        self.requests: list[Any] = []

    def reply(self, body: Any, status: int = 200, content_type: str = "application/json") -> Wire:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.queue.append((status, data, content_type))
        return self

    def stream(self, body: bytes, content_type: str = "text/event-stream") -> Wire:
        return self.reply(body, 200, content_type)

    def handler(self) -> Callable[[Any], Any]:
        def handle(request: Any) -> Any:
            self.requests.append(request)
            assert self.queue, f"unexpected request {request.method} {request.url}"
            status, body, content_type = self.queue.pop(0)
            return self.httpx.Response(status, headers={"content-type": content_type}, content=body, request=request)

        return handle

    def transport(self) -> Any:
        return self.httpx.MockTransport(self.handler())

    def json_sent(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def usd(tokens: int, per_million: float) -> float:
    """Dollars for a token count at a published USD-per-million price (tests compute costs by hand)."""
    return tokens * per_million / 1_000_000


_pricer: Any = None


def loaded_pricer() -> Any:
    """One pricer per session with its table loaded up front, so a loaded machine cannot make a cost go missing."""
    global _pricer
    if _pricer is None:
        from otel_agentmetrics.pricing import Pricer

        _pricer = Pricer()
        _pricer.load()
    return _pricer


def cost_points(otel: Any) -> list[float]:
    return [point.sum for point in otel.metric_points("gen_ai.usage.cost")]
