"""Per-endpoint numbers from a real web app: FastAPI with the OpenTelemetry FastAPI instrumentation (which puts
``http.route`` on the request span), our OpenAI instrumentor on the real ``openai`` client talking to the demo's
stand-in server (OpenAI's documented wire format), and the dashboard mounted in the same app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")
instrumentation = pytest.importorskip("opentelemetry.instrumentation.fastapi")

import openai  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402

from otel_agentmetrics._config import resolve  # noqa: E402
from otel_agentmetrics._telemetry import Telemetry  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor  # noqa: E402
from otel_agentmetrics.summary import dashboard_app  # noqa: E402
from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter  # noqa: E402


@pytest.fixture
def app_and_store(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    store = tmp_path / "web.sqlite3"
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(LocalStoreSpanExporter(store)))
    ours = OpenAIInstrumentor()
    ours.instrument(telemetry=Telemetry(tracer_provider, MeterProvider()), settings=resolve())
    with StandInServer(latency=(0.0, 0.01)) as llm:
        client = openai.AsyncOpenAI(base_url=llm.openai_url, api_key="test", max_retries=0)
        app = fastapi.FastAPI()

        @app.post("/ask/{user}")
        async def ask(user: str) -> dict[str, Any]:
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"Plan a trip in Lisbon for {user}"}]
            )
            return {"answer": reply.choices[0].message.content, "usage": reply.usage.model_dump()}

        @app.post("/broken")
        async def broken() -> dict[str, Any]:
            await client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
            return {}

        app.mount("/agentmetrics", dashboard_app(store))
        instrumentation.FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
        try:
            yield app, store
        finally:
            instrumentation.FastAPIInstrumentor.uninstrument_app(app)
            ours.uninstrument()
            tracer_provider.shutdown()


def test_calls_are_summed_per_route(app_and_store: tuple[Any, Path]) -> None:
    app, _ = app_and_store
    with TestClient(app, raise_server_exceptions=False) as web:
        usages = [web.post(f"/ask/{user}").json()["usage"] for user in ("ana", "bo", "cy")]
        assert web.post("/broken").status_code == 500
        data = web.get("/agentmetrics/api/summary").json()

    endpoints = {e["name"]: e for e in data["by_endpoint"]}
    assert set(endpoints) == {"/ask/{user}", "/broken"}  # the route template, not the three paths
    ask = endpoints["/ask/{user}"]
    assert (ask["calls"], ask["failed"], ask["model_calls"]) == (3, 0, 3)
    assert ask["input_tokens"] == sum(u["prompt_tokens"] for u in usages)
    assert ask["output_tokens"] == sum(u["completion_tokens"] for u in usages)
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
    dollars = sum(u["prompt_tokens"] * 0.15 + u["completion_tokens"] * 0.60 for u in usages) / 1e6
    assert ask["cost_usd"] == pytest.approx(dollars, rel=1e-9)
    broken = endpoints["/broken"]
    assert (broken["calls"], broken["failed"], broken["model_calls"]) == (1, 1, 1)
    errors = {(e["kind"], e["name"], e["error_type"]) for e in data["recent_errors"]}
    assert ("model", "no-such-model", "NotFoundError") in errors
    assert ("request", "/broken", "openai.NotFoundError") in errors  # the exception the server span recorded
