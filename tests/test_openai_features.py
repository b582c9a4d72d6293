"""OpenAI features one by one: request parameters, tool calls, content capture, errors, raw responses, the
``parse``/``stream`` helpers and the Responses API, replayed from the recorded cassettes through the real client."""

from __future__ import annotations

import json

import openai
import pytest

from .openai_kit import capturing as capturing  # noqa: F401  (fixture)
from .openai_kit import chat_helpers, client_for, recorded
from .openai_kit import instrumented as instrumented  # noqa: F401  (fixture)

TOOLS = "test_chat_completion_tool_calls_with_content"


def _attrs(otel):
    return dict(otel.only_span().attributes)


def test_request_parameters(instrumented):  # noqa: F811
    client = client_for("test_chat_completion_extra_params")
    client.chat.completions.create(**recorded("test_chat_completion_extra_params")[0])
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.request.seed"] == 42
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["openai.request.service_tier"] == "default"
    assert attrs["openai.response.service_tier"] == "default"
    assert attrs["gen_ai.output.type"] == "text"
    assert "gen_ai.request.choice.count" not in attrs


def test_stop_sequence_as_string_and_choice_counts(instrumented):  # noqa: F811
    name = "test_chat_completion_handle_stop_sequences_as_string"
    client_for(name).chat.completions.create(**recorded(name)[0])
    assert _attrs(instrumented)["gen_ai.request.stop_sequences"] == ("stop",)
    instrumented.spans.clear()
    name = "test_chat_completion_n_1_is_not_reported"
    client_for(name).chat.completions.create(**recorded(name)[0])
    assert "gen_ai.request.choice.count" not in _attrs(instrumented)
    instrumented.spans.clear()
    name = "test_chat_completion_multiple_choices"
    client_for(name).chat.completions.create(**recorded(name)[0])
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "stop")


def test_tool_calls_and_content(capturing):  # noqa: F811
    client = client_for(TOOLS)
    first = client.chat.completions.create(**recorded(TOOLS, 0)[0])
    assert first.choices[0].finish_reason == "tool_calls"
    client.chat.completions.create(**recorded(TOOLS, 1)[0])
    asked, answered = capturing.finished()
    a = dict(asked.attributes)
    ids = ("call_JpNb8OiAkbIbHzDggfpdDHpi", "call_vaFQc3zK6hHTRZKXRI5Eo2cJ")
    assert a["agentmetrics.response.tool_call_ids"] == ids
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "You're a helpful assistant."}]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "What's the weather in Seattle and San Francisco today?"}],
        }
    ]
    assert json.loads(a["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": recorded(TOOLS, 0)[0]["tools"][0]["function"]["parameters"],
        }
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": ids[0],
                    "name": "get_current_weather",
                    "arguments": '{"location": "Seattle, WA"}',
                },
                {
                    "type": "tool_call",
                    "id": ids[1],
                    "name": "get_current_weather",
                    "arguments": '{"location": "San Francisco, CA"}',
                },
            ],
            "finish_reason": "tool_calls",
        }
    ]
    b = dict(answered.attributes)
    assert "agentmetrics.response.tool_call_ids" not in b
    messages = json.loads(b["gen_ai.input.messages"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[2]["parts"] == [{"type": "tool_call_response", "id": ids[0], "response": "50 degrees and raining"}]
    assert json.loads(b["gen_ai.output.messages"])[0]["parts"][0]["content"].startswith("Today, the weather in Seattle")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_streamed_tool_call_fragments_are_assembled(capturing, is_async):  # noqa: F811
    name = f"test_{'async_' if is_async else ''}chat_completion_multiple_tools_streaming_with_content"
    client = client_for(name, is_async=is_async)
    stream = client.chat.completions.create(**recorded(name)[0])
    if is_async:
        stream = await stream
        chunks = [c async for c in stream]
    else:
        chunks = list(stream)
    # What the client saw, assembled by this test from the chunks themselves.
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for frag in choice.delta.tool_calls or ():
                slot = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += frag.id or ""
                slot["name"] += (frag.function and frag.function.name) or ""
                slot["arguments"] += (frag.function and frag.function.arguments) or ""
    assert len(calls) == 2
    attrs = _attrs(capturing)
    assert attrs["agentmetrics.response.tool_call_ids"] == tuple(calls[i]["id"] for i in sorted(calls))
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    parts = json.loads(attrs["gen_ai.output.messages"])[0]["parts"]
    assert parts == [{"type": "tool_call", **calls[i]} for i in sorted(calls)]
    assert all(json.loads(p["arguments"])["location"] for p in parts)


def test_content_is_off_by_default(instrumented):  # noqa: F811
    client_for(TOOLS).chat.completions.create(**recorded(TOOLS, 0)[0])
    attrs = _attrs(instrumented)
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
        assert key not in attrs
    assert attrs["agentmetrics.response.tool_call_ids"]  # ids are not content


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_http_error_is_reraised_untouched(instrumented, is_async):  # noqa: F811
    name = f"test_{'async_' if is_async else ''}chat_completion_404"
    client = client_for(name, is_async=is_async)
    with pytest.raises(openai.NotFoundError) as caught:
        result = client.chat.completions.create(**recorded(name)[0])
        if is_async:
            await result
    assert caught.value.status_code == 404
    assert caught.value.body["code"] == "model_not_found"
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.events[0].name == "exception"
    (point,) = instrumented.metric_points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "NotFoundError"
    assert instrumented.metric_points("gen_ai.client.token.usage") == []


def test_with_raw_response_returns_the_raw_response(instrumented):  # noqa: F811
    name = "test_chat_completion_with_raw_response"
    raw = client_for(name).chat.completions.with_raw_response.create(**recorded(name)[0])
    assert type(raw) is openai._legacy_response.LegacyAPIResponse
    assert raw.headers["content-type"].startswith("application/json")
    completion = raw.parse()
    assert type(completion) is openai.types.chat.ChatCompletion
    assert raw.parse() is completion
    assert completion.choices[0].message.content == "This is a test."
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.response.id"] == completion.id
    assert attrs["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens


def test_with_streaming_response_non_streamed(instrumented):  # noqa: F811
    name = "test_chat_completion_with_content"
    client = client_for(name)
    with client.chat.completions.with_streaming_response.create(**recorded(name)[0]) as response:
        assert type(response) is openai._response.APIResponse
        assert instrumented.finished() == []  # body not read yet: the call is not over
        completion = response.parse()
    assert type(completion) is openai.types.chat.ChatCompletion
    assert _attrs(instrumented)["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens


def test_with_streaming_response_closed_unread_still_ends(instrumented):  # noqa: F811
    name = "test_chat_completion_with_content"
    with client_for(name).chat.completions.with_streaming_response.create(**recorded(name)[0]) as response:
        assert response.status_code == 200
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.usage.input_tokens" not in attrs  # never read, so never known


def test_parse_helper_is_one_span(instrumented):  # noqa: F811
    name = "test_chat_completion_with_content"
    body = {k: v for k, v in recorded(name)[0].items() if k != "stream"}
    completion = chat_helpers(client_for(name)).parse(**body)
    assert type(completion).__name__.startswith("ParsedChatCompletion")
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.response.id"] == completion.id
    assert attrs["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_chat_stream_helper_is_one_span(instrumented, is_async):  # noqa: F811
    name = f"test_{'async_' if is_async else ''}chat_completion_streaming"
    body = {k: v for k, v in recorded(name)[0].items() if k != "stream"}
    client = client_for(name, is_async=is_async)
    if is_async:
        async with chat_helpers(client).stream(**body) as stream:
            final = await stream.get_final_completion()
    else:
        with chat_helpers(client).stream(**body) as stream:
            final = stream.get_final_completion()
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)


def test_responses_parameters_and_content(capturing):  # noqa: F811
    name = "test_responses_create_with_all_params[content_mode0]"
    response = client_for(name).responses.create(**recorded(name)[0])
    attrs = _attrs(capturing)
    assert capturing.only_span().name == "chat gpt-4o-mini"
    assert attrs["gen_ai.request.temperature"] == 0.7
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.output.type"] == "text"
    assert attrs["openai.response.service_tier"] == "default"
    assert json.loads(attrs["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "You are a helpful assistant."}
    ]
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": response.output_text}],
            "finish_reason": "completed",
        }
    ]


def test_responses_tool_call(capturing):  # noqa: F811
    name = "test_responses_create_captures_tool_call_content[content_mode0]"
    client_for(name).responses.create(**recorded(name)[0])
    attrs = _attrs(capturing)
    assert attrs["agentmetrics.response.tool_call_ids"] == ("call_90uO5LcGP5vTBTCrjyhYtWsA",)
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"] == [
        {
            "type": "tool_call",
            "id": "call_90uO5LcGP5vTBTCrjyhYtWsA",
            "name": "get_current_weather",
            "arguments": '{"location":"Seattle, WA"}',
        }
    ]
    assert json.loads(attrs["gen_ai.tool.definitions"])[0]["name"] == "get_current_weather"


def test_responses_parse_and_stream_helpers(instrumented):  # noqa: F811
    name = "test_responses_create_basic[content_mode0]"
    parsed = client_for(name).responses.parse(**recorded(name)[0])
    assert _attrs(instrumented)["gen_ai.response.id"] == parsed.id
    instrumented.spans.clear()
    name = "test_responses_create_streaming[content_mode0]"
    body = {k: v for k, v in recorded(name)[0].items() if k != "stream"}
    with client_for(name).responses.stream(**body) as stream:
        final = stream.get_final_response()
    attrs = _attrs(instrumented)
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.usage.input_tokens"] == final.usage.input_tokens
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_embeddings_parameters(instrumented):  # noqa: F811
    for name, key, value in (
        ("test_embeddings_with_dimensions", "gen_ai.embeddings.dimension.count", 512),
        ("test_embeddings_with_encoding_format", "gen_ai.request.encoding_formats", ("base64",)),
    ):
        result = client_for(name).embeddings.create(**recorded(name)[0])
        span = instrumented.only_span()
        assert span.name == "embeddings text-embedding-3-small"
        assert span.attributes[key] == value
        assert span.attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
        assert "gen_ai.usage.output_tokens" not in span.attributes
        instrumented.spans.clear()


def test_instrumentation_bug_never_reaches_the_user(instrumented, monkeypatch):  # noqa: F811
    """With the test-only re-raise switch off, a failing reader is logged and the call goes on unchanged."""
    from otel_agentmetrics.instrumentors.llm.openai import _response

    monkeypatch.delenv("AGENTMETRICS_RAISE_INTERNAL_ERRORS")

    def broken(record, result, capture):
        raise RuntimeError("bug in our reader")

    monkeypatch.setitem(_response.READERS, 1, broken)
    name = "test_chat_completion_with_content"
    completion = client_for(name).chat.completions.create(**recorded(name)[0])
    assert completion.choices[0].message.content == "This is a test."
    assert instrumented.only_span().name == "chat gpt-4o-mini"  # ended anyway


def test_uninstrument_restores(otel):
    import openai._base_client as base

    from .openai_kit import instrument

    original = base.SyncAPIClient.__dict__["request"], base.AsyncAPIClient.__dict__["request"]
    instrumentor = instrument(otel)
    assert base.SyncAPIClient.__dict__["request"].__wrapped__ is original[0]
    instrumentor.uninstrument()
    assert (base.SyncAPIClient.__dict__["request"], base.AsyncAPIClient.__dict__["request"]) == original
    name = "test_chat_completion_with_content"
    client_for(name).chat.completions.create(**recorded(name)[0])
    assert otel.finished() == []
