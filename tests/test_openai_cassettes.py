"""Every recorded OpenAI interaction, replayed through the real client with our instrumentation.

Each cassette is called with the exact request body it was recorded with (sync or async as recorded). The
expected span and metric values are read from the recorded *response JSON* by this test's own parser, not from
the client's objects, so a wrong field mapping in the instrumentor fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from .openai_kit import client_for, recorded, sse_data
from .openai_kit import instrumented as instrumented  # noqa: F401  (fixture)
from .replay import CASSETTES

NAMES = sorted(p.stem for p in Path(CASSETTES / "openai").glob("*.yaml"))
ERRORS = {404: openai.NotFoundError, 400: openai.BadRequestError}


def _expected(name: str, index: int) -> dict[str, Any]:
    """Span attributes the recorded response implies, computed from its JSON."""
    body, status, text = recorded(name, index)
    exp: dict[str, Any] = {"gen_ai.request.model": body["model"], "server.address": "api.openai.com"}
    if status >= 400:
        exp["error.type"] = ERRORS[status].__name__
        return exp
    if body.get("stream"):
        events = sse_data(text)
        if "responses" in name:
            final = next(e["response"] for e in events if e.get("type") == "response.completed")
            return {**exp, **_responses(final)}
        reasons: dict[int, str] = {}
        usage = None
        for event in events:
            for choice in event["choices"]:
                if choice.get("finish_reason"):
                    reasons[choice["index"]] = choice["finish_reason"]
            usage = event.get("usage") or usage
        exp.update(
            {
                "gen_ai.response.id": events[0]["id"],
                "gen_ai.response.model": events[0]["model"],
                "gen_ai.response.finish_reasons": tuple(reasons[i] for i in sorted(reasons)),
            }
        )
        if usage:
            exp["gen_ai.usage.input_tokens"] = usage["prompt_tokens"]
            exp["gen_ai.usage.output_tokens"] = usage["completion_tokens"]
        return exp
    import json

    data = json.loads(text)
    if "responses" in name:
        return {**exp, **_responses(data)}
    if data.get("object") == "list":  # embeddings
        exp["gen_ai.response.model"] = data["model"]
        exp["gen_ai.usage.input_tokens"] = data["usage"]["prompt_tokens"]
        return exp
    exp.update(
        {
            "gen_ai.response.id": data["id"],
            "gen_ai.response.model": data["model"],
            "gen_ai.response.finish_reasons": tuple(c["finish_reason"] for c in data["choices"]),
            "gen_ai.usage.input_tokens": data["usage"]["prompt_tokens"],
            "gen_ai.usage.output_tokens": data["usage"]["completion_tokens"],
        }
    )
    return exp


def _responses(data: dict[str, Any]) -> dict[str, Any]:
    usage = data["usage"]
    return {
        "gen_ai.response.id": data["id"],
        "gen_ai.response.model": data["model"],
        "gen_ai.response.finish_reasons": (data["status"],),
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": usage["input_tokens_details"]["cached_tokens"],
        "gen_ai.usage.reasoning.output_tokens": usage["output_tokens_details"]["reasoning_tokens"],
    }


def _method(client: Any, name: str) -> Any:
    if "responses" in name:
        return client.responses.create
    if "embeddings" in name:
        return client.embeddings.create
    return client.chat.completions.create


def _consume(result: Any) -> None:
    for _ in result:
        pass


async def _aconsume(result: Any) -> None:
    async for _ in result:
        pass


@pytest.mark.parametrize("name", NAMES)
async def test_replay(instrumented, name):  # noqa: F811
    is_async = name.startswith("test_async_")
    client = client_for(name, is_async=is_async)
    data = recorded(name)[0]
    interactions = 2 if "tool_calls_with_content" in name else 1
    for index in range(interactions):
        body = recorded(name, index)[0]
        expected_error = ERRORS.get(recorded(name, index)[1])
        call = _method(client, name)
        if expected_error is not None:
            with pytest.raises(expected_error):
                await call(**body) if is_async else call(**body)
        else:
            result = await call(**body) if is_async else call(**body)
            if body.get("stream"):
                await _aconsume(result) if is_async else _consume(result)

    spans = instrumented.finished()
    assert len(spans) == interactions
    for index, span in enumerate(spans):
        expected = _expected(name, index)
        operation = "embeddings" if "embeddings" in name else "chat"
        assert span.name == f"{operation} {data['model']}"
        attrs = dict(span.attributes)
        assert attrs["gen_ai.operation.name"] == operation
        assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "openai"
        assert attrs["server.port"] == 443
        for key, value in expected.items():
            assert attrs.get(key) == value, key
        if "error.type" in expected:
            assert span.status.status_code.name == "ERROR"
        else:
            assert span.status.status_code.name == "UNSET"
        if recorded(name, index)[0].get("stream"):
            assert attrs["gen_ai.request.stream"] is True
            assert attrs["gen_ai.response.time_to_first_chunk"] > 0
            assert attrs["gen_ai.client.operation.time_to_first_chunk"] == attrs["gen_ai.response.time_to_first_chunk"]
        else:
            assert "gen_ai.request.stream" not in attrs

    durations = instrumented.metric_points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == interactions
    tokens = {p.attributes["gen_ai.token.type"]: p for p in instrumented.metric_points("gen_ai.client.token.usage")}
    expected_input = sum(_expected(name, i).get("gen_ai.usage.input_tokens", 0) for i in range(interactions))
    expected_output = sum(_expected(name, i).get("gen_ai.usage.output_tokens", 0) for i in range(interactions))
    if expected_input:
        assert tokens["input"].sum == expected_input
    else:
        assert "input" not in tokens
    if expected_output:
        assert tokens["output"].sum == expected_output
    else:
        assert "output" not in tokens
    for point in durations:
        assert point.attributes["gen_ai.provider.name"] == "openai"
        assert point.attributes["gen_ai.request.model"] == data["model"]
        assert point.attributes["server.address"] == "api.openai.com"
