"""Batch APIs through the real ``openai`` and ``anthropic`` clients against a loopback stand-in
(``tests/batch_stand_in.py``): each result's usage counted once, when the results are read, at the batch price."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest
from genai_prices import Usage, calc_price

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor

from .batch_stand_in import BatchServer, serve_batches

USAGE = {"req-1": (100, 20), "req-2": (200, 30), "req-3": (300, 50)}


def batch_price(model: str, provider: str, tokens_in: int, tokens_out: int) -> float:
    price = calc_price(
        Usage(input_tokens=tokens_in, output_tokens=tokens_out),
        model,
        provider_id=provider,
        price_context={"processing": "batch"},
    )
    return float(price.total_price)


def interactive_price(model: str, provider: str, tokens_in: int, tokens_out: int) -> Decimal:
    return calc_price(Usage(input_tokens=tokens_in, output_tokens=tokens_out), model, provider_id=provider).total_price


@pytest.fixture
def server() -> Iterator[BatchServer]:
    with serve_batches() as state:
        state.usage.update(USAGE)
        yield state


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider)
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(telemetry=telemetry, settings=resolve())
    yield otel
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


def input_file(endpoint: str = "/v1/chat/completions", model: str = "gpt-4o-mini") -> bytes:
    lines = []
    for custom_id in USAGE:
        if endpoint == "/v1/embeddings":
            body: dict[str, Any] = {"model": model, "input": "hello"}
        elif endpoint == "/v1/responses":
            body = {"model": model, "input": "hello"}
        else:
            body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
        lines.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}))
    return ("\n".join(lines) + "\n").encode()


def run_openai_batch(client: Any, endpoint: str = "/v1/chat/completions", model: str = "gpt-4o-mini") -> Any:
    """What an app does: upload, create, poll until done, download and parse the results."""
    uploaded = client.files.create(file=("batch.jsonl", io.BytesIO(input_file(endpoint, model))), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h")
    seen = [uploaded, batch]
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        batch = client.batches.retrieve(batch.id)
        seen.append(batch)
    return seen, batch


def openai_client(server: BatchServer, is_async: bool = False) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(api_key="test", base_url=f"{server.base_url}/v1", max_retries=0, timeout=20)


def comparable(obj: Any) -> Any:
    data = obj.model_dump()
    return type(obj), {k: v for k, v in data.items() if not k.endswith("_at")}


def chat_spans(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") in ("chat", "embeddings")]


def batch_spans(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("agentmetrics.operation.name") == "batch"]


def metric_sums(otel: Any, name: str, **match: Any) -> dict[Any, float]:
    out: dict[Any, float] = {}
    for point in otel.metric_points(name):
        attrs = dict(point.attributes)
        if all(attrs.get(k) == v for k, v in match.items()):
            key = attrs.get("gen_ai.token.type")
            out[key] = out.get(key, 0) + point.sum
    return out


def test_openai_chat_batch_counts_each_result_once_at_the_batch_price(server: BatchServer, otel: Any) -> None:
    # Without instrumentation first: what the app sees must not change.
    plain_client = openai_client(server)
    plain_seen, plain_batch = run_openai_batch(plain_client)
    plain_content = plain_client.files.content(plain_batch.output_file_id)
    plain_lines = [json.loads(line) for line in plain_content.text.splitlines()]

    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry, settings=resolve())
    try:
        client = openai_client(server)
        seen, batch = run_openai_batch(client)
        assert otel.finished() == []  # upload, create and the polls count nothing
        content = client.files.content(batch.output_file_id)
        lines = [json.loads(line) for line in content.text.splitlines()]
        again = client.files.content(batch.output_file_id)  # read twice: counted once
        assert again.content == content.content
    finally:
        instrumentor.uninstrument()

    assert [comparable(o)[0] for o in seen] == [comparable(o)[0] for o in plain_seen]
    assert [type(o) for o in (content,)] == [type(plain_content)]
    assert [{k: v for k, v in x.items() if k != "id"} for x in lines] != []
    assert len(lines) == len(plain_lines) == 3
    assert [line["response"]["body"]["usage"] for line in lines] == [
        line["response"]["body"]["usage"] for line in plain_lines
    ]

    chats = chat_spans(otel)
    assert [
        (s.name, s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"]) for s in chats
    ] == [
        ("chat gpt-4o-mini-2024-07-18", 100, 20),
        ("chat gpt-4o-mini-2024-07-18", 200, 30),
        ("chat gpt-4o-mini-2024-07-18", 300, 50),
    ]
    (group,) = batch_spans(otel)
    assert group.name == f"batch {batch.id}"
    assert all(s.parent.span_id == group.context.span_id for s in chats)
    for span, (tokens_in, tokens_out) in zip(chats, USAGE.values(), strict=True):
        assert span.attributes["agentmetrics.processing"] == "batch"
        assert span.attributes["agentmetrics.batch.custom_id"] in USAGE
        assert span.attributes["gen_ai.usage.cost"] == batch_price("gpt-4o-mini", "openai", tokens_in, tokens_out)
    total = batch_price("gpt-4o-mini", "openai", 600, 100)
    assert float(interactive_price("gpt-4o-mini", "openai", 600, 100)) > total  # the batch price, not the list one
    attrs = group.attributes
    assert attrs["agentmetrics.batch.id"] == batch.id
    assert attrs["agentmetrics.batch.status"] == "completed"
    assert (attrs["agentmetrics.batch.requests"], attrs["agentmetrics.batch.failed_requests"]) == (3, 0)
    assert (attrs["agentmetrics.agent.input_tokens"], attrs["agentmetrics.agent.output_tokens"]) == (600, 100)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(total, abs=1e-12)

    tokens = metric_sums(otel, "gen_ai.client.token.usage", **{"agentmetrics.processing": "batch"})
    assert tokens == {"input": 600, "output": 100}
    assert metric_sums(otel, "gen_ai.client.token.usage") == tokens  # nothing else counted
    (cost,) = metric_sums(otel, "gen_ai.usage.cost", **{"agentmetrics.processing": "batch"}).values()
    assert cost == pytest.approx(total, abs=1e-12)


@pytest.mark.parametrize(
    ("endpoint", "model", "operation", "tokens"),
    [
        ("/v1/responses", "gpt-4o-mini", "chat", {"input": 600, "output": 100}),
        ("/v1/embeddings", "text-embedding-3-small", "embeddings", {"input": 600}),
    ],
)
def test_openai_async_batches_of_responses_and_embeddings(
    server: BatchServer, instrumented: Any, endpoint: str, model: str, operation: str, tokens: dict[str, int]
) -> None:
    async def main() -> Any:
        client = openai_client(server, is_async=True)
        uploaded = await client.files.create(file=("b.jsonl", io.BytesIO(input_file(endpoint, model))), purpose="batch")
        batch = await client.batches.create(input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h")
        while batch.status != "completed":
            batch = await client.batches.retrieve(batch.id)
        assert instrumented.finished() == []
        content = await client.files.content(batch.output_file_id)
        await client.files.content(batch.output_file_id)
        return content

    content = asyncio.run(main())
    assert len(content.text.splitlines()) == 3
    spans = chat_spans(instrumented)
    assert [s.attributes["gen_ai.operation.name"] for s in spans] == [operation] * 3
    assert metric_sums(instrumented, "gen_ai.client.token.usage", **{"agentmetrics.processing": "batch"}) == tokens
    for span, (tokens_in, tokens_out) in zip(spans, USAGE.values(), strict=True):
        expected = batch_price(model, "openai", tokens_in, tokens_out if operation == "chat" else 0)
        assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected, abs=1e-12)


def test_openai_failed_requests_and_an_expired_batch_are_marked(server: BatchServer, instrumented: Any) -> None:
    server.failures["req-2"] = "invalid_model"
    server.final_status = "expired"
    client = openai_client(server)
    _, batch = run_openai_batch(client)
    client.batches.retrieve(batch.id)  # seen expired twice: marked once
    (marked,) = batch_spans(instrumented)
    assert marked.attributes["error.type"] == "expired"
    assert marked.attributes["agentmetrics.batch.requests"] == 3
    assert marked.attributes["agentmetrics.batch.failed_requests"] == 1
    assert not chat_spans(instrumented)

    client.files.content(batch.output_file_id)
    client.files.content(batch.error_file_id)
    chats = chat_spans(instrumented)
    failed = [s for s in chats if "error.type" in s.attributes]
    assert [s.attributes["error.type"] for s in failed] == ["invalid_model"]
    assert "gen_ai.usage.input_tokens" not in failed[0].attributes
    assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in chats if s not in failed) == [100, 300]
    groups = [s for s in batch_spans(instrumented) if s is not marked]
    assert [g.attributes["error.type"] for g in groups] == ["expired", "expired"]


def test_a_file_that_is_not_batch_output_counts_nothing(server: BatchServer, instrumented: Any) -> None:
    client = openai_client(server)
    uploaded = client.files.create(file=("b.jsonl", io.BytesIO(input_file())), purpose="batch")
    assert client.files.content(uploaded.id).content == input_file()
    assert instrumented.finished() == []


def anthropic_requests() -> list[dict[str, Any]]:
    return [
        {
            "custom_id": custom_id,
            "params": {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
        }
        for custom_id in USAGE
    ]


def anthropic_client(server: BatchServer, is_async: bool = False) -> Any:
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(api_key="test", base_url=server.base_url, max_retries=0, timeout=20)


def anthropic_model_spans(otel: Any) -> list[Any]:
    return [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "chat"]


def test_anthropic_message_batch_counts_each_result_once_at_the_batch_price(server: BatchServer, otel: Any) -> None:
    plain = anthropic_client(server)
    created = plain.messages.batches.create(requests=anthropic_requests())
    while plain.messages.batches.retrieve(created.id).processing_status != "ended":
        pass
    plain_results = list(plain.messages.batches.results(created.id))

    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=telemetry, settings=resolve())
    try:
        client = anthropic_client(server)
        batch = client.messages.batches.create(requests=anthropic_requests())
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            pass
        ours = [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name")]
        assert ours == []  # create and poll count nothing
        decoder = client.messages.batches.results(batch.id)
        results = list(decoder)
        assert type(decoder).__name__ == "JSONLDecoder"
        again = list(client.messages.batches.results(batch.id))  # read twice: counted once
    finally:
        instrumentor.uninstrument()

    assert [type(r) for r in results] == [type(r) for r in plain_results]
    assert (
        [r.model_dump() for r in results] == [r.model_dump() for r in plain_results] == [r.model_dump() for r in again]
    )
    spans = anthropic_model_spans(otel)
    assert [
        (s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"]) for s in spans
    ] == list(USAGE.values())
    (group,) = batch_spans(otel)
    assert all(s.parent.span_id == group.context.span_id for s in spans)
    for span, (tokens_in, tokens_out) in zip(spans, USAGE.values(), strict=True):
        assert span.attributes["gen_ai.usage.cost"] == batch_price(
            "claude-haiku-4-5", "anthropic", tokens_in, tokens_out
        )
    total = batch_price("claude-haiku-4-5", "anthropic", 600, 100)
    assert float(interactive_price("claude-haiku-4-5", "anthropic", 600, 100)) > total
    assert group.attributes["agentmetrics.agent.cost"] == pytest.approx(total, abs=1e-12)
    tokens = metric_sums(otel, "gen_ai.client.token.usage", **{"agentmetrics.processing": "batch"})
    assert tokens == {"input": 600, "output": 100}


def test_anthropic_async_results_with_an_errored_request(server: BatchServer, instrumented: Any) -> None:
    server.failures["req-3"] = "invalid_request_error"

    async def main() -> list[Any]:
        client = anthropic_client(server, is_async=True)
        batch = await client.messages.batches.create(requests=anthropic_requests())
        while (await client.messages.batches.retrieve(batch.id)).processing_status != "ended":
            pass
        decoder = await client.messages.batches.results(batch.id)
        return [item async for item in decoder]

    results = asyncio.run(main())
    assert [r.result.type for r in results] == ["succeeded", "succeeded", "errored"]
    spans = anthropic_model_spans(instrumented)
    assert [s.attributes.get("error.type") for s in spans] == [None, None, "invalid_request_error"]
    (group,) = batch_spans(instrumented)
    assert (
        group.attributes["agentmetrics.batch.requests"],
        group.attributes["agentmetrics.batch.failed_requests"],
    ) == (
        3,
        1,
    )
    assert metric_sums(instrumented, "gen_ai.client.token.usage", **{"agentmetrics.processing": "batch"}) == {
        "input": 300,
        "output": 50,
    }


def test_the_summary_shows_batch_spend_apart_from_interactive_spend(server: BatchServer, tmp_path: Any) -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    from otel_agentmetrics.summary import queries
    from otel_agentmetrics.summary.render import tables

    from .summary_kit import SpanMaker

    maker = SpanMaker(tmp_path / "store.db")
    telemetry = Telemetry(maker.provider, MeterProvider())
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry, settings=resolve())
    try:
        client = openai_client(server)
        _, batch = run_openai_batch(client)
        client.files.content(batch.output_file_id)
    finally:
        instrumentor.uninstrument()
    maker.model("gpt-4o-mini", at=10, duration=1.0, input_tokens=600, output_tokens=100, cost=0.00015)
    maker.exporter.force_flush()

    summary = queries.summary(tmp_path / "store.db")
    by = {stats.name: stats for stats in summary.by_processing}
    assert set(by) == {"batch", "interactive"}
    assert (by["batch"].calls, by["batch"].input_tokens, by["batch"].output_tokens) == (3, 600, 100)
    assert by["batch"].cost_usd == pytest.approx(batch_price("gpt-4o-mini", "openai", 600, 100), abs=1e-12)
    assert (by["interactive"].calls, by["interactive"].cost_usd) == (1, 0.00015)
    assert summary.overall.calls == 4  # the batch span itself is not a model call
    (table,) = [t for t in tables(summary) if t.title == "Batch and interactive"]
    assert [row[0] for row in table.rows] == ["interactive", "batch"]
    assert summary.to_dict()["by_processing"][1]["name"] == "batch"


def test_batch_files_of_the_wrong_shape_count_nothing_or_their_fields_only(
    server: BatchServer, instrumented: Any
) -> None:
    client = openai_client(server)
    body = {
        "object": "chat.completion", "model": "gpt-4o-mini", "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
    }  # fmt: skip
    good = {"id": "r1", "custom_id": "a", "error": None, "response": {"status_code": 200, "body": body}}
    # A line that is not JSON: not a batch file after all, nothing counted.
    broken = server.upload(json.dumps(good).encode() + b"\nnot json\n")["id"]
    client.files.content(broken)
    assert instrumented.finished() == []
    # Lines with fields of the wrong shape: each costs its own fields only.
    odd = [
        {**good, "custom_id": "b", "response": {"status_code": 200, "body": {"usage": "abc", "choices": "0"}}},
        {**good, "custom_id": "c", "response": {"status_code": "x", "body": None}},
        {**good, "custom_id": "d", "response": None, "error": {"code": None}},
        good,
    ]
    odd_id = server.upload(b"".join(json.dumps(line).encode() + b"\n" for line in odd))["id"]
    client.files.content(odd_id)
    spans = chat_spans(instrumented)
    assert [s.attributes["agentmetrics.batch.custom_id"] for s in spans] == ["b", "c", "d", "a"]
    assert [s.attributes.get("error.type") for s in spans] == [None, None, "batch_request_error", None]
    assert [s.attributes.get("gen_ai.usage.input_tokens") for s in spans] == [None, None, None, 10]


def test_gemini_batch_job_with_inlined_responses_counts_each_result_once(server: BatchServer, otel: Any) -> None:
    from google import genai
    from google.genai import types

    from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor

    server.final_status = "BATCH_STATE_SUCCEEDED"
    options = types.HttpOptions(base_url=server.base_url, api_version="v1beta")
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        client = genai.Client(api_key="test", http_options=options)
        job = client.batches.get(name="batches/nightly-1")
        assert job.state == types.JobState.JOB_STATE_RUNNING
        assert otel.finished() == []  # polling an unfinished job counts nothing
        job = client.batches.get(name="batches/nightly-1")
        again = client.batches.get(name="batches/nightly-1")  # got twice: counted once
    finally:
        instrumentor.uninstrument()
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert [r.response.usage_metadata.prompt_token_count for r in job.dest.inlined_responses] == [100, 200, 300]
    assert again.model_dump() == job.model_dump()
    spans = [s for s in otel.finished() if s.attributes.get("gen_ai.operation.name") == "generate_content"]
    assert [(s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"]) for s in spans] == [
        (100, 20),
        (200, 30),
        (300, 50),
    ]
    (group,) = batch_spans(otel)
    assert group.name == "batch batches/nightly-1"
    for span, (tokens_in, tokens_out) in zip(spans, USAGE.values(), strict=True):
        assert span.attributes["agentmetrics.processing"] == "batch"
        assert span.attributes["gen_ai.usage.cost"] == batch_price("gemini-2.5-flash", "google", tokens_in, tokens_out)
    assert float(interactive_price("gemini-2.5-flash", "google", 600, 100)) > batch_price(
        "gemini-2.5-flash", "google", 600, 100
    )
    tokens = metric_sums(otel, "gen_ai.client.token.usage", **{"agentmetrics.processing": "batch"})
    assert tokens == {"input": 600, "output": 100}


def test_gemini_batch_job_that_expired_is_marked_once(server: BatchServer, otel: Any) -> None:
    from google import genai
    from google.genai import types

    from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor

    server.final_status = "BATCH_STATE_EXPIRED"
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider), settings=resolve())
    try:
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=server.base_url))
        for _ in range(3):
            job = client.batches.get(name="batches/nightly-2")
    finally:
        instrumentor.uninstrument()
    assert job.state == types.JobState.JOB_STATE_EXPIRED
    (marked,) = batch_spans(otel)
    assert (marked.name, marked.attributes["error.type"]) == ("batch batches/nightly-2", "expired")
