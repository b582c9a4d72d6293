"""Bedrock Runtime through a real boto3 client, replaying the recorded cassettes (see tests/replay_botocore.py)."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import quote

import botocore.client
import pytest
import yaml
from botocore.exceptions import ResponseStreamingError
from botocore.response import StreamingBody
from urllib3 import HTTPResponse

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.bedrock import BedrockInstrumentor
from otel_agentmetrics.instrumentors.llm.bedrock import _bodies as bedrock_bodies

from .replay import CASSETTES
from .replay_botocore import BedrockReplay

HOST = "bedrock-runtime.us-east-1.amazonaws.com"
SAY_TEST = [{"role": "user", "content": [{"text": "Say this is a test"}]}]
CONFIG = {"maxTokens": 10, "temperature": 0.8, "topP": 1, "stopSequences": ["|"]}


def instrument(otel: Any, capture: str | None = None) -> BedrockInstrumentor:
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(
        telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=capture or "NO_CONTENT")
    )
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


def recorded_body(name: str, index: int = 0) -> bytes:
    data = yaml.load((CASSETTES / "bedrock" / name).read_text(), Loader=yaml.Loader)
    return data["interactions"][index]["request"]["body"].encode()


def base(model: str, operation: str = "chat") -> dict[str, Any]:
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.system": "aws.bedrock",
        "gen_ai.request.model": model,
        "server.address": HOST,
        "server.port": 443,
    }


# Published AWS Bedrock on-demand prices (us-east-1), USD per million input / output tokens.
PRICES = {
    "amazon.titan-text-lite-v1": (0.15, 0.20),
    "amazon.nova-micro-v1:0": (0.035, 0.14),
    "anthropic.claude-v2": (8.0, 24.0),
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0": (3.0, 15.0),
    "cohere.command-r-v1:0": (0.5, 1.5),
    "meta.llama3-1-70b-instruct-v1:0": (0.72, 0.72),
    "mistral.mistral-7b-instruct-v0:2": (0.15, 0.20),
}


PROFILE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"


def dollars(model: str, inputs: int, outputs: int) -> float:
    per_input, per_output = PRICES[model]
    return (inputs * per_input + outputs * per_output) / 1_000_000


def pop_cost(attributes: Any) -> tuple[dict[str, Any], float | None]:
    """The span's attributes without the cost ones, and the cost (checked to be one value under both names)."""
    rest = dict(attributes)
    cost = rest.pop("gen_ai.usage.cost", None)
    assert rest.pop("operation.cost", None) == cost
    source = rest.pop("agentmetrics.cost.source", None)
    assert (source is None) == (cost is None)
    if source is not None:
        assert source.startswith("genai-prices")
    return rest, cost


def test_converse(instrumented):
    replay = BedrockReplay("bedrock/test_converse_with_content")
    response = replay.client.converse(modelId="amazon.titan-text-lite-v1", messages=SAY_TEST, inferenceConfig=CONFIG)
    assert response["output"]["message"]["content"][0]["text"] == "Hi, how can I help you"
    span = instrumented.only_span()
    assert span.name == "chat amazon.titan-text-lite-v1"
    assert span.kind.name == "CLIENT"
    attributes, cost = pop_cost(span.attributes)
    assert cost == pytest.approx(8 * 0.15e-6 + 10 * 0.20e-6)  # 3.2e-06 USD
    assert attributes == {
        **base("amazon.titan-text-lite-v1"),
        "gen_ai.request.max_tokens": 10,
        "gen_ai.request.temperature": 0.8,
        "gen_ai.request.top_p": 1,
        "gen_ai.request.stop_sequences": ("|",),
        "gen_ai.response.finish_reasons": ("max_tokens",),
        "gen_ai.usage.input_tokens": 8,
        "gen_ai.usage.output_tokens": 10,
        "aws.request_id": "180bdcbc-0fea-4b99-a0f0-b858dd830a83",
    }
    tokens = {p.attributes["gen_ai.token.type"]: p for p in instrumented.metric_points("gen_ai.client.token.usage")}
    assert (tokens["input"].sum, tokens["output"].sum) == (8, 10)
    assert tokens["input"].attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": "amazon.titan-text-lite-v1",
        "server.address": HOST,
        "server.port": 443,
        "gen_ai.token.type": "input",
    }
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.count == 1 and "error.type" not in duration.attributes
    (spent,) = instrumented.metric_points("gen_ai.usage.cost")
    assert spent.sum == pytest.approx(3.2e-06)
    assert spent.attributes["gen_ai.request.model"] == "amazon.titan-text-lite-v1"


def test_converse_tool_calls_and_content(capturing):
    replay = BedrockReplay("bedrock/test_converse_tool_call_with_content")
    request = json.loads(recorded_body("test_converse_tool_call_with_content.yaml"))
    response = replay.client.converse(modelId="amazon.nova-micro-v1:0", **request)
    assert response["stopReason"] == "tool_use"
    span = capturing.only_span()
    assert span.name == "chat amazon.nova-micro-v1:0"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert span.attributes["agentmetrics.response.tool_call_ids"] == (
        "tooluse_tggNKJbGSrm48inRqf3Rvw",
        "tooluse_bRV9WIcFSxyrLY6-MVkZRA",
    )
    usage = response["usage"]
    assert span.attributes["gen_ai.usage.input_tokens"] == usage["inputTokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == usage["outputTokens"]
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "What is the weather in Seattle and San Francisco today?"}],
        }
    ]
    (tool,) = json.loads(span.attributes["gen_ai.tool.definitions"])
    assert tool["name"] == "get_current_weather" and tool["parameters"]["required"] == ["location"]
    (output,) = json.loads(span.attributes["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["finish_reason"] == "tool_use"
    assert [p["type"] for p in output["parts"]] == ["text", "tool_call", "tool_call"]
    assert output["parts"][1] == {
        "type": "tool_call",
        "id": "tooluse_tggNKJbGSrm48inRqf3Rvw",
        "name": "get_current_weather",
        "arguments": {"location": "Seattle"},
    }


def test_no_content_without_the_switch(instrumented):
    replay = BedrockReplay("bedrock/test_converse_tool_call_with_content")
    request = json.loads(recorded_body("test_converse_tool_call_with_content.yaml"))
    replay.client.converse(modelId="amazon.nova-micro-v1:0", **request)
    attributes = instrumented.only_span().attributes
    assert not [key for key in attributes if key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool"))]


@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_invalid_model(instrumented, operation):
    replay = BedrockReplay(f"bedrock/test_{operation}_with_invalid_model")
    with pytest.raises(replay.client.exceptions.ValidationException) as raised:
        getattr(replay.client, operation)(modelId="does-not-exist", messages=SAY_TEST)
    assert "The provided model identifier is invalid." in str(raised.value)
    span = instrumented.only_span()
    assert span.name == "chat does-not-exist"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ValidationException"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert span.events[0].name == "exception"
    (duration,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "ValidationException"
    assert instrumented.metric_points("gen_ai.client.token.usage") == []


def test_invoke_model_invalid_model(instrumented):
    replay = BedrockReplay("bedrock/test_invoke_model_with_invalid_model")
    with pytest.raises(replay.client.exceptions.ValidationException):
        replay.client.invoke_model(modelId="does-not-exist", body=b"")
    span = instrumented.only_span()
    assert span.name == "text_completion does-not-exist"
    assert span.attributes["error.type"] == "ValidationException"


PARAMS = {"gen_ai.request.max_tokens": 10, "gen_ai.request.temperature": 0.8, "gen_ai.request.top_p": 1}

# InvokeModel, one case per body format: (cassette suffix, model id, operation, request params, response id,
# response model, finish reasons, input, output, the text the user reads back).
INVOKE_CASES = [
    (
        "anthropic.claude",
        "anthropic.claude-v2",
        "chat",
        {**PARAMS, "gen_ai.request.stop_sequences": ("|",)},
        "msg_bdrk_01NCxHHwwdtMc7wioSxo2wBC",
        "claude-2.0",
        ("max_tokens",),
        14,
        10,
    ),
    (
        "amazon.nova",
        "amazon.nova-micro-v1:0",
        "chat",
        {**PARAMS, "gen_ai.request.stop_sequences": ("|",)},
        None,
        None,
        ("max_tokens",),
        5,
        10,
    ),
    (
        "cohere.command-r",
        "cohere.command-r-v1:0",
        "chat",
        {**PARAMS, "gen_ai.request.top_p": 0.99, "gen_ai.request.stop_sequences": ("|",)},
        "379ed018/aa2df2bf-edc8-483f-8cd0-d22d04ba34ba",
        None,
        ("MAX_TOKENS",),
        5,
        10,
    ),
    (
        "meta.llama",
        "meta.llama3-1-70b-instruct-v1:0",
        "text_completion",
        PARAMS,
        None,
        None,
        ("length",),
        5,
        10,
    ),
    (
        "mistral.mistral",
        "mistral.mistral-7b-instruct-v0:2",
        "text_completion",
        {**PARAMS, "gen_ai.request.stop_sequences": ("|",)},
        None,
        None,
        ("length",),
        6,
        10,
    ),
]


@pytest.mark.parametrize(
    ("family", "model", "operation", "params", "response_id", "response_model", "reasons", "inputs", "outputs"),
    INVOKE_CASES,
    ids=[case[0] for case in INVOKE_CASES],
)
def test_invoke_model_body_formats(
    instrumented, family, model, operation, params, response_id, response_model, reasons, inputs, outputs
):
    name = f"test_invoke_model_with_content[{family}].yaml"
    recorded = recorded_body(name)
    replay = BedrockReplay(f"bedrock/{name}")
    response = replay.client.invoke_model(modelId=model, body=recorded)
    # The user still reads the whole body, from a real StreamingBody, as if we were not there.
    assert isinstance(response["body"], StreamingBody)
    body = json.loads(response["body"].read())
    assert body == json.loads(yaml.load((CASSETTES / "bedrock" / name).read_text(), Loader=yaml.Loader)[
        "interactions"][0]["response"]["body"]["string"])  # fmt: skip
    span = instrumented.only_span()
    assert span.name == f"{operation} {model}"
    attributes, cost = pop_cost(span.attributes)
    if model in ("anthropic.claude-v2", "cohere.command-r-v1:0"):
        # Not in the price table we ship yet; when it is, it must be the published price.
        assert cost is None or cost == pytest.approx(dollars(model, inputs, outputs))
    else:
        assert cost == pytest.approx(dollars(model, inputs, outputs))
    expected = {
        **base(model, operation),
        **params,
        "gen_ai.response.finish_reasons": reasons,
        "gen_ai.usage.input_tokens": inputs,
        "gen_ai.usage.output_tokens": outputs,
        "aws.request_id": response["ResponseMetadata"]["RequestId"],
    }
    if response_id:
        expected["gen_ai.response.id"] = response_id
    if response_model:
        expected["gen_ai.response.model"] = response_model
    assert attributes == expected


def test_invoke_model_tokens_from_headers_win(instrumented):
    """Bedrock's own counts (the headers, what it bills) are used; the Llama body agrees here."""
    name = "test_invoke_model_with_content_tool_call[anthropic.claude].yaml"
    replay = BedrockReplay(f"bedrock/{name}")
    model = PROFILE
    response = replay.client.invoke_model(modelId=model, body=recorded_body(name))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amzn-bedrock-input-token-count"], headers["x-amzn-bedrock-output-token-count"]) == ("392", "135")
    span = instrumented.only_span()
    assert span.name == "chat us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert span.attributes["gen_ai.request.model"] == model
    assert span.attributes["gen_ai.usage.input_tokens"] == 392
    assert span.attributes["gen_ai.usage.output_tokens"] == 135
    # A region-prefixed (cross-region inference profile) id is priced as the model it names.
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(dollars(model, 392, 135))  # 0.003201 USD
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert span.attributes["agentmetrics.response.tool_call_ids"] == (
        "toolu_bdrk_01Y5MJKoHE4VJ5ZrhcVfM1gP",
        "toolu_bdrk_014yQPSMntXHRmzGYxCbmBHE",
    )


def test_inference_profile_arn_is_the_request_model(instrumented):
    """An application-inference-profile ARN goes on the span as given; it is priced as the model it names."""
    name = "test_invoke_model_with_content_tool_call[anthropic.claude].yaml"
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    replay = BedrockReplay(f"bedrock/{name}")
    for interaction in replay.cassette.interactions:  # the recording was made with the plain profile id
        interaction["request"]["uri"] = f"https://{HOST}/model/{quote(arn, safe='')}/invoke"
    replay.client.invoke_model(modelId=arn, body=recorded_body(name))
    span = instrumented.only_span()
    assert span.name == f"chat {arn}"
    assert span.attributes["gen_ai.request.model"] == arn
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(dollars(PROFILE, 392, 135))


def test_invoke_model_content_capture(capturing):
    name = "test_invoke_model_with_content[anthropic.claude].yaml"
    replay = BedrockReplay(f"bedrock/{name}")
    replay.client.invoke_model(modelId="anthropic.claude-v2", body=recorded_body(name))
    span = capturing.only_span()
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(span.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": 'Okay, I said "This is a test"'}],
            "finish_reason": "max_tokens",
        }
    ]


def test_prompt_bodies_capture_prompt_and_generation(capturing):
    name = "test_invoke_model_with_content[meta.llama].yaml"
    replay = BedrockReplay(f"bedrock/{name}")
    replay.client.invoke_model(modelId="meta.llama3-1-70b-instruct-v1:0", body=recorded_body(name))
    span = capturing.only_span()
    assert json.loads(span.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == "Say this is a test"
    output = json.loads(span.attributes["gen_ai.output.messages"])[0]
    assert output["parts"][0]["content"] == " post. This is a test post. This is"


def test_other_services_and_operations_are_untouched(instrumented):
    replay = BedrockReplay("bedrock/test_converse_with_content")
    # An operation we do not instrument: it reaches the (replaying) transport with no span.
    with pytest.raises(Exception, match="no recorded GET"):
        replay.client.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc")
    assert instrumented.finished() == []


def test_uninstrument_restores_botocore(otel):
    original = botocore.client.BaseClient.__dict__["_make_api_call"]
    instrumentor = instrument(otel)
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is not original
    instrumentor.uninstrument()
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is original
    BedrockReplay("bedrock/test_converse_with_content").client.converse(
        modelId="amazon.titan-text-lite-v1", messages=SAY_TEST
    )
    assert otel.finished() == []


def documented(replay: BedrockReplay, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """Serve one response built from AWS's documented Bedrock Runtime API format (no recording is shared)."""
    replay.cassette.interactions = [
        {
            "request": {"method": "POST", "uri": f"https://{HOST}{path}"},
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"Content-Type": "application/json", "x-amzn-RequestId": "documented-1", **(headers or {})},
                "body": {"string": json.dumps(body)},
            },
        }
    ]


def test_converse_prompt_caching(instrumented):
    """Converse reports cache reads and writes apart from ``inputTokens``; our input counts all of them."""
    model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    replay = BedrockReplay("bedrock/test_converse_with_content")
    usage = {"inputTokens": 12, "outputTokens": 30, "cacheReadInputTokens": 1800, "cacheWriteInputTokens": 200}
    documented(
        replay,
        f"/model/{quote(model, safe='')}/converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Cached."}]}},
            "stopReason": "end_turn",
            "usage": {**usage, "totalTokens": 2042},
            "metrics": {"latencyMs": 300},
        },
    )
    replay.client.converse(modelId=model, messages=SAY_TEST)
    span = instrumented.only_span()
    attributes, cost = pop_cost(span.attributes)
    assert attributes["gen_ai.usage.input_tokens"] == 12 + 1800 + 200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1800
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 200
    assert attributes["gen_ai.usage.output_tokens"] == 30
    # Claude 3.7 Sonnet on Bedrock, per million: input 3.00, cache read 0.30, cache write 3.75, output 15.00.
    assert cost == pytest.approx((12 * 3.00 + 1800 * 0.30 + 200 * 3.75 + 30 * 15.00) / 1_000_000)  # 0.001776 USD


def test_invoke_model_titan_embeddings(instrumented):
    model = "amazon.titan-embed-text-v2:0"
    replay = BedrockReplay("bedrock/test_converse_with_content")
    documented(
        replay,
        f"/model/{quote(model, safe='')}/invoke",
        {"embedding": [0.12, -0.05, 0.33], "inputTextTokenCount": 3},
        {"X-Amzn-Bedrock-Input-Token-Count": "3", "X-Amzn-Bedrock-Invocation-Latency": "41"},
    )
    response = replay.client.invoke_model(
        modelId=model, body=json.dumps({"inputText": "hello world", "dimensions": 256})
    )
    assert json.loads(response["body"].read())["embedding"] == [0.12, -0.05, 0.33]
    span = instrumented.only_span()
    assert span.name == "embeddings amazon.titan-embed-text-v2:0"
    attributes, cost = pop_cost(span.attributes)
    assert attributes == {
        **base(model, "embeddings"),
        "gen_ai.usage.input_tokens": 3,
        "aws.request_id": "documented-1",
    }
    assert cost == pytest.approx(3 * 0.02 / 1_000_000)  # Titan Text Embeddings V2: 0.02 USD per million tokens


def test_invoke_model_body_broken_mid_read(instrumented):
    """If the connection breaks while we read the body, the user meets the same error when they read it."""
    name = "test_invoke_model_with_content[meta.llama].yaml"
    replay = BedrockReplay(f"bedrock/{name}")
    reply = replay._reply

    class Reset(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise ConnectionResetError("connection reset by peer")

    def broken(request: Any, **kwargs: Any) -> Any:
        response = reply(request, **kwargs)
        response.raw = HTTPResponse(body=Reset(), headers=response.headers, status=200, preload_content=False)
        return response

    replay.client.meta.events.unregister("before-send.bedrock-runtime", reply)
    replay.client.meta.events.register("before-send.bedrock-runtime", broken)
    response = replay.client.invoke_model(modelId="meta.llama3-1-70b-instruct-v1:0", body=recorded_body(name))
    with pytest.raises(ResponseStreamingError):
        response["body"].read()
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ResponseStreamingError"


def test_our_bug_never_reaches_the_user(instrumented, monkeypatch, caplog):
    """Fail open: a crash in our response reading is logged; the user's response is whole and the span ends."""
    monkeypatch.delenv("AGENTMETRICS_RAISE_INTERNAL_ERRORS")

    def crash(*args: Any) -> None:
        raise RuntimeError("bug in the instrumentation")

    monkeypatch.setattr(bedrock_bodies, "read_response", crash)
    name = "test_invoke_model_with_content[meta.llama].yaml"
    replay = BedrockReplay(f"bedrock/{name}")
    response = replay.client.invoke_model(modelId="meta.llama3-1-70b-instruct-v1:0", body=recorded_body(name))
    assert json.loads(response["body"].read())["generation"] == " post. This is a test post. This is"
    assert len(instrumented.finished()) == 1
    assert "internal error" in caplog.text
