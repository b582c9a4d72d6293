"""The vertexai SDK (google-cloud-aiplatform) through its real REST transport, replayed with vcrpy.

The recorded cassettes (requests, sync) are replayed as recorded; the async client's REST transport (aiohttp)
replays the same recordings. No streaming recording is shared: the stream tests serve a
``streamGenerateContent`` body built from Google's documented REST wire format (a JSON array of
``GenerateContentResponse`` objects, enums as numbers as the SDK asks with ``$alt=json;enum-encoding=int``).
"""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path
from typing import Any

import pytest
import vcr
import vertexai
import yaml
from google.api_core import exceptions
from google.auth.aio.credentials import AnonymousCredentials as AsyncAnonymousCredentials
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform import initializer
from vertexai.generative_models import (
    Content,
    FunctionDeclaration,
    GenerationConfig,
    GenerativeModel,
    Part,
    Tool,
)

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.google.vertexai import VertexAIInstrumentor

from .replay import CASSETTES

# The SDK warns that Google deprecated it in favour of google-genai; users still call it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

HOST = "us-central1-aiplatform.googleapis.com"
# Published Vertex AI prices for Gemini 2.5 Pro (prompts up to 200k tokens), USD per million tokens:
# input 1.25, output (thinking included) 10.00.
PRO_IN, PRO_OUT = 1.25, 10.00


def pro_dollars(inputs: int, outputs: int) -> float:
    return (inputs * PRO_IN + outputs * PRO_OUT) / 1_000_000


@pytest.fixture(autouse=True)
def vertex_project():
    vertexai.init(
        project="fake-project", location="us-central1", api_transport="rest", credentials=AnonymousCredentials()
    )
    initializer._set_async_rest_credentials(AsyncAnonymousCredentials())  # the SDK's own switch for async REST


def instrument(otel: Any, capture: str = "NO_CONTENT") -> VertexAIInstrumentor:
    instrumentor = VertexAIInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=capture))
    return instrumentor


@pytest.fixture
def instrumented(otel):
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def capturing(otel):
    instrumentor = instrument(otel, "SPAN_ONLY")
    yield otel
    instrumentor.uninstrument()


def cassette(name: str) -> Any:
    return vcr.use_cassette(str(CASSETTES / "vertexai" / f"{name}.yaml"), record_mode="none")


def base_attributes(**extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.vertex_ai",
        "gen_ai.system": "gcp.vertex_ai",
        "gen_ai.request.model": "gemini-2.5-pro",
        "server.address": HOST,
        "server.port": 443,
        "gen_ai.response.model": "gemini-2.5-pro",
        "gen_ai.response.finish_reasons": ("stop",),
        **extra,
    }


def without_cost(span: Any) -> tuple[dict[str, Any], float | None]:
    rest = dict(span.attributes)
    cost = rest.pop("gen_ai.usage.cost", None)
    assert rest.pop("operation.cost", None) == cost
    assert rest.pop("agentmetrics.cost.source", "genai-prices").startswith("genai-prices")
    return rest, cost


GENERATE_CONTENT = {
    "gen_ai.response.id": "T5akaImrHM2Dm9IPlu_Z0QI",
    "gen_ai.usage.input_tokens": 5,
    "gen_ai.usage.output_tokens": 5 + 294,  # candidates 5 + thoughts 294
    "gen_ai.usage.reasoning.output_tokens": 294,
}


def test_generate_content(instrumented):
    with cassette("test_generate_content"):
        response = GenerativeModel("gemini-2.5-pro").generate_content("Say this is a test")
    assert response.text == "This is a test."
    span = instrumented.only_span()
    assert span.name == "generate_content gemini-2.5-pro"
    attributes, cost = without_cost(span)
    assert attributes == base_attributes(**GENERATE_CONTENT)
    assert cost == pytest.approx(pro_dollars(5, 299))  # 0.00299625 USD
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in instrumented.metric_points("gen_ai.client.token.usage")}
    assert tokens == {"input": 5, "output": 299}


async def test_generate_content_async(instrumented):
    with cassette("test_generate_content"):
        response = await GenerativeModel("gemini-2.5-pro").generate_content_async("Say this is a test")
    assert response.text == "This is a test."
    attributes, cost = without_cost(instrumented.only_span())
    assert attributes == base_attributes(**GENERATE_CONTENT)
    assert cost == pytest.approx(pro_dollars(5, 299))


WEATHER = FunctionDeclaration(
    name="get_current_weather",
    description="Get the current weather in a given location",
    parameters={
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The location for which to get the weather."}},
    },
)


def test_function_calls_with_content(capturing):
    with cassette("test_function_call_choice"):
        response = GenerativeModel("gemini-2.5-pro", tools=[Tool(function_declarations=[WEATHER])]).generate_content(
            "Get weather details in New Delhi and San Francisco?", generation_config=GenerationConfig(temperature=0.1)
        )
    assert [call.args["location"] for call in response.candidates[0].function_calls] == ["New Delhi", "San Francisco"]
    span = capturing.only_span()
    attributes, cost = without_cost(span)
    assert attributes["gen_ai.request.temperature"] == 0.1
    # Unset fields of the config are not reported (a proto reads them as 0).
    assert not {"gen_ai.request.top_p", "gen_ai.request.top_k", "gen_ai.request.max_tokens"} & set(attributes)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (74, 16 + 200)
    assert cost == pytest.approx(pro_dollars(74, 216))
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Get weather details in New Delhi and San Francisco?"}]}
    ]
    (tool,) = json.loads(attributes["gen_ai.tool.definitions"])
    assert (tool["type"], tool["name"]) == ("function", "get_current_weather")
    (output,) = json.loads(attributes["gen_ai.output.messages"])
    assert output["finish_reason"] == "stop"
    assert [(p["type"], p["name"], p["arguments"]) for p in output["parts"]] == [
        ("tool_call", "get_current_weather", {"location": "New Delhi"}),
        ("tool_call", "get_current_weather", {"location": "San Francisco"}),
    ]


def test_chat_history_with_tool_responses(capturing):
    history = [
        Content(role="user", parts=[Part.from_text("Get weather details in New Delhi and San Francisco?")]),
        Content(
            role="model",
            parts=[
                Part.from_dict({"function_call": {"name": "get_current_weather", "args": {"location": "New Delhi"}}}),
                Part.from_dict(
                    {"function_call": {"name": "get_current_weather", "args": {"location": "San Francisco"}}}
                ),
            ],
        ),
        Content(
            role="user",
            parts=[
                Part.from_function_response("get_current_weather", {"content": '{"temperature": 35, "unit": "C"}'}),
                Part.from_function_response("get_current_weather", {"content": '{"temperature": 25, "unit": "C"}'}),
            ],
        ),
    ]
    with cassette("test_tool_events"):
        model = GenerativeModel(
            "gemini-2.5-pro",
            tools=[Tool(function_declarations=[WEATHER])],
            generation_config=GenerationConfig(top_k=3, max_output_tokens=512),  # the model's defaults
        )
        model.generate_content(history)
    attributes, _ = without_cost(capturing.only_span())
    assert attributes["gen_ai.response.id"] == "ZZCkaLnDCuavgLUP4fGpsQs"
    assert (attributes["gen_ai.request.top_k"], attributes["gen_ai.request.max_tokens"]) == (3, 512)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (128, 26 + 692)
    messages = json.loads(attributes["gen_ai.input.messages"])
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[2]["parts"][0] == {
        "type": "tool_call_response",
        "id": None,
        "name": "get_current_weather",
        "response": {"content": '{"temperature": 35, "unit": "C"}'},
    }


@pytest.mark.parametrize(
    ("name", "model", "config", "error", "error_type"),
    [
        (
            "test_generate_content_invalid_temperature",
            "gemini-2.5-pro",
            {"temperature": 1000},
            exceptions.BadRequest,
            "BadRequest",
        ),
        ("test_generate_content_missing_model", "gemini-does-not-exist", None, exceptions.NotFound, "NotFound"),
    ],
)
def test_errors(instrumented, name, model, config, error, error_type):
    with cassette(name), pytest.raises(error):
        GenerativeModel(model).generate_content("Say this is a test", generation_config=config)
    span = instrumented.only_span()
    assert span.name == f"generate_content {model}"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == error_type
    assert "gen_ai.usage.input_tokens" not in span.attributes
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == error_type


# Streaming: a body in the documented REST format, since no streaming recording is shared.
STREAM_URI = (
    f"https://{HOST}/v1/projects/fake-project/locations/us-central1/publishers/google/models/"
    "gemini-2.5-pro:streamGenerateContent?%24alt=json%3Benum-encoding%3Dint"
)
STREAM_CHUNKS: list[dict[str, Any]] = [
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "This is"}]}}],
        "modelVersion": "gemini-2.5-pro",
        "responseId": "stream-1",
    },
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": " a test."}]}, "finishReason": 1}],
        "usageMetadata": {
            "promptTokenCount": 5,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 120,
            "cachedContentTokenCount": 0,
            "totalTokenCount": 130,
        },
        "modelVersion": "gemini-2.5-pro",
        "responseId": "stream-1",
    },
]


@pytest.fixture
def stream_cassette(tmp_path: Path) -> Any:
    body = "[" + ",\r\n".join(json.dumps(chunk) for chunk in STREAM_CHUNKS) + "]"
    interaction = {
        "request": {"method": "POST", "uri": STREAM_URI, "body": None, "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json; charset=UTF-8"]},
            "body": {"string": body},
        },
    }
    path = tmp_path / "stream.yaml"
    path.write_text(yaml.safe_dump({"interactions": [interaction], "version": 1}))
    return vcr.use_cassette(str(path), record_mode="none")


def assert_stream_span(otel: Any) -> None:
    span = otel.only_span()
    attributes, cost = without_cost(span)
    first = attributes.pop("gen_ai.response.time_to_first_chunk")
    assert first > 0 and attributes.pop("gen_ai.client.operation.time_to_first_chunk") == first
    assert attributes == base_attributes(
        **{
            "gen_ai.request.stream": True,
            "gen_ai.response.id": "stream-1",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.output_tokens": 125,
            "gen_ai.usage.reasoning.output_tokens": 120,
        }
    )
    assert cost == pytest.approx(pro_dollars(5, 125))


def test_stream(instrumented, stream_cassette):
    with stream_cassette:
        chunks = list(GenerativeModel("gemini-2.5-pro").generate_content("Say this is a test", stream=True))
    assert "".join(chunk.text for chunk in chunks) == "This is a test."
    assert_stream_span(instrumented)


async def test_stream_async(instrumented, stream_cassette):
    with stream_cassette:
        stream = await GenerativeModel("gemini-2.5-pro").generate_content_async("Say this is a test", stream=True)
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == 2
    assert_stream_span(instrumented)


def test_stream_break_then_garbage_collected(instrumented, stream_cassette):
    with stream_cassette:
        stream = GenerativeModel("gemini-2.5-pro").generate_content("Say this is a test", stream=True)
        for chunk in stream:
            assert chunk.text == "This is"
            break
        assert instrumented.finished() == []
        del stream, chunk
        gc.collect()
    span = instrumented.only_span()
    assert span.attributes["gen_ai.response.id"] == "stream-1"
    assert "gen_ai.usage.input_tokens" not in span.attributes


async def test_async_stream_closed(instrumented, stream_cassette):
    with stream_cassette:
        stream = await GenerativeModel("gemini-2.5-pro").generate_content_async("Say this is a test", stream=True)
        await stream.__anext__()
        await stream.aclose()
    await asyncio.sleep(0)
    assert len(instrumented.finished()) == 1


def test_chat_session_send_message(instrumented):
    with cassette("test_generate_content"):
        chat = GenerativeModel("gemini-2.5-pro").start_chat()
        assert chat.send_message("Say this is a test").text == "This is a test."
    assert instrumented.only_span().attributes["gen_ai.usage.input_tokens"] == 5


def test_uninstrument_restores(otel):
    from vertexai.generative_models._generative_models import _GenerativeModel

    original = _GenerativeModel.__dict__["_generate_content"]
    instrumentor = instrument(otel)
    assert _GenerativeModel.__dict__["_generate_content"] is not original
    instrumentor.uninstrument()
    assert _GenerativeModel.__dict__["_generate_content"] is original
