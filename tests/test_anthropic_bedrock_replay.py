"""``AnthropicBedrock`` replaying real Bedrock Runtime recordings of Claude (``tests/cassettes/bedrock/``).

The same recordings the botocore instrumentor replays; here the anthropic SDK's Bedrock client sends the requests
(``/model/{id}/invoke`` and ``/invoke-with-response-stream``, the latter an AWS event stream it decodes itself).
Provider ``aws.bedrock``; dollars from Anthropic's Bedrock list prices per million tokens.
"""

from __future__ import annotations

import anthropic
import pytest

from .anthropic_kit import HTTPX, instrument
from .replay import Cassette

SAY_TEST = [{"role": "user", "content": [{"type": "text", "text": "Say this is a test"}]}]
CLAUDE_V2_PARAMS = {"max_tokens": 10, "temperature": 0.8, "top_p": 1, "stop_sequences": ["|"]}


@pytest.fixture
def instrumented(otel):
    instrumentor = instrument(otel)
    yield otel
    instrumentor.uninstrument()


def bedrock(name: str) -> anthropic.AnthropicBedrock:
    cassette = Cassette(f"bedrock/{name}.yaml")
    recorded = cassette.handler(HTTPX)

    def handle(request):
        # botocore recorded the model id's ":" percent-encoded in the path; the anthropic SDK sends it as is.
        url = str(request.url).replace("-v1:0/", "-v1%3A0/")
        return recorded(HTTPX.Request(request.method, url, headers=request.headers, content=request.content))

    client = anthropic.AnthropicBedrock(
        aws_access_key="AKIDEXAMPLE",
        aws_secret_key="test_aws_secret",
        aws_region="us-east-1",
        http_client=HTTPX.Client(transport=HTTPX.MockTransport(handle)),
        max_retries=0,
    )
    client.cassette = cassette  # type: ignore[attr-defined]
    return client


def _sampling(params: dict) -> dict:
    """anthropic 2.x sends sampling parameters as extra body fields."""
    import inspect

    if "temperature" in inspect.signature(anthropic.resources.messages.Messages.create).parameters:
        return params
    return {"max_tokens": params["max_tokens"], "stop_sequences": params["stop_sequences"],
            "extra_body": {"temperature": params["temperature"], "top_p": params["top_p"]}}  # fmt: skip


def _assert_claude_v2(span) -> None:
    attributes = span.attributes
    assert span.name == "chat anthropic.claude-v2"
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["server.address"] == "bedrock-runtime.us-east-1.amazonaws.com"
    assert attributes["gen_ai.request.max_tokens"] == 10
    assert attributes["gen_ai.request.temperature"] == 0.8
    assert attributes["gen_ai.request.top_p"] == 1
    assert attributes["gen_ai.request.stop_sequences"] == ("|",)
    assert attributes["gen_ai.response.model"] == "claude-2.0"
    assert attributes["gen_ai.response.finish_reasons"] == ("max_tokens",)
    assert attributes["gen_ai.usage.input_tokens"] == 14
    assert attributes["gen_ai.usage.output_tokens"] == 10
    # Claude 2 is retired and has no Bedrock price in the table: no cost rather than a wrong one (first-party
    # list price would be 14 x $8/M + 10 x $24/M = $0.000352), and the call is counted as unpriced.
    assert "gen_ai.usage.cost" not in attributes


def test_invoke(instrumented):
    client = bedrock("test_invoke_model_with_content[anthropic.claude]")
    message = client.messages.create(model="anthropic.claude-v2", messages=SAY_TEST, **_sampling(CLAUDE_V2_PARAMS))
    assert message.id == "msg_bdrk_01NCxHHwwdtMc7wioSxo2wBC"
    _assert_claude_v2(instrumented.only_span())
    (unpriced,) = instrumented.metric_points("agentmetrics.calls.unpriced")
    assert unpriced.value == 1
    assert dict(unpriced.attributes)["gen_ai.provider.name"] == "aws.bedrock"


def test_invoke_with_response_stream(instrumented):
    client = bedrock("test_invoke_model_with_response_stream_with_content[anthropic.claude]")
    stream = client.messages.create(
        model="anthropic.claude-v2", messages=SAY_TEST, stream=True, **_sampling(CLAUDE_V2_PARAMS)
    )
    events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    span = instrumented.only_span()
    _assert_claude_v2(span)
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0


SONNET_3_5 = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"


def _turns(client) -> list[dict]:
    """The two recorded requests (a tool call, then the tool results), minus what the SDK adds itself."""
    bodies = [client.cassette.recorded_json_body(index) for index in (0, 1)]
    for body in bodies:
        body.pop("anthropic_version")
    return bodies


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "invoke_with_response_stream"])
def test_tool_call_turns(instrumented, stream):
    name = "test_invoke_model_with{}_content_tool_call[anthropic.claude]"
    client = bedrock(name.format("_response_stream_with" if stream else ""))
    for body in _turns(client):
        if stream:
            with client.messages.stream(model=SONNET_3_5, **body) as events:
                events.until_done()
        else:
            client.messages.create(model=SONNET_3_5, **body)
    first, second = instrumented.finished()
    assert first.name == second.name == f"chat {SONNET_3_5}"
    assert first.attributes["gen_ai.response.model"] == "claude-3-5-sonnet-20240620"
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    if stream:
        ids = ("toolu_bdrk_01KatiGijVFb9yuMPcnVk38e", "toolu_bdrk_01Tzb35EydKHWz4UZP3puTbF")
        # message_delta's final counts: 392 in / 134 out, then 603 / 146 (Claude 3.5 Sonnet on Bedrock: $3 / $15).
        usage, costs = [(392, 134), (603, 146)], [0.001176 + 0.00201, 0.001809 + 0.00219]
    else:
        ids = ("toolu_bdrk_01Y5MJKoHE4VJ5ZrhcVfM1gP", "toolu_bdrk_014yQPSMntXHRmzGYxCbmBHE")
        usage, costs = [(392, 135), (604, 146)], [0.001176 + 0.002025, 0.001812 + 0.00219]
    assert first.attributes["agentmetrics.response.tool_call_ids"] == ids
    assert "agentmetrics.response.tool_call_ids" not in second.attributes
    for span, (input_tokens, output_tokens), cost in zip((first, second), usage, costs, strict=True):
        assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (
            input_tokens,
            output_tokens,
        )
        assert span.attributes["gen_ai.usage.cost"] == pytest.approx(cost, rel=1e-9)
