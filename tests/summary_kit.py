"""Spans for the summary tests: a real SDK tracer whose spans go through ``LocalStoreSpanExporter`` into a store.

The spans carry the GenAI convention attributes any instrumentation would set; start and end times are given
explicitly so durations, percentiles and time buckets are known exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter

NOW = 1_800_000_000.0  # a fixed "now" (2027-01-15) so windows and buckets are exact
NS = 1_000_000_000


def ns(seconds_ago: float) -> int:
    return int((NOW - seconds_ago) * NS)


class SpanMaker:
    def __init__(self, path: Path, service: str = "shop") -> None:
        self.path = path
        self.exporter = LocalStoreSpanExporter(path)
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def model(
        self,
        model: str,
        *,
        provider: str = "openai",
        at: float,
        duration: float,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cached: int | None = None,
        cost: float | None = None,
        error: tuple[str, str] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        for key, value in (
            ("gen_ai.usage.input_tokens", input_tokens),
            ("gen_ai.usage.output_tokens", output_tokens),
            ("gen_ai.usage.cache_read.input_tokens", cached),
            ("gen_ai.usage.cost", cost),
        ):
            if value is not None:
                attrs[key] = value
        attrs.update(attributes or {})
        self._span(f"chat {model}", SpanKind.CLIENT, attrs, at, duration, error)

    def tool(self, name: str, *, at: float, duration: float, error: tuple[str, str] | None = None) -> None:
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function"}
        self._span(f"execute_tool {name}", SpanKind.INTERNAL, attrs, at, duration, error)

    @contextmanager
    def agent(self, name: str, *, at: float, duration: float) -> Iterator[None]:
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        with self._parent(f"invoke_agent {name}", SpanKind.INTERNAL, attrs, at, duration):
            yield

    @contextmanager
    def request(self, route: str, *, at: float, duration: float, status: int = 200) -> Iterator[None]:
        attrs = {"http.route": route, "http.request.method": "POST", "http.response.status_code": status}
        with self._parent(f"POST {route}", SpanKind.SERVER, attrs, at, duration):
            yield

    @contextmanager
    def _parent(self, name: str, kind: SpanKind, attrs: dict[str, Any], at: float, duration: float) -> Iterator[None]:
        span = self.tracer.start_span(name, kind=kind, attributes=attrs, start_time=ns(at))
        with trace.use_span(span, end_on_exit=False):
            yield
        span.end(end_time=ns(at) + int(duration * NS))

    def _span(
        self,
        name: str,
        kind: SpanKind,
        attrs: dict[str, Any],
        at: float,
        duration: float,
        error: tuple[str, str] | None,
    ) -> None:
        span = self.tracer.start_span(name, kind=kind, attributes=attrs, start_time=ns(at))
        if error is not None:
            span.set_attribute("error.type", error[0])
            span.set_status(Status(StatusCode.ERROR, error[1]))
        span.end(end_time=ns(at) + int(duration * NS))

    def close(self) -> None:
        self.provider.shutdown()
