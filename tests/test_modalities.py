"""Usage by modality in chat completions (``prompt_tokens_details.audio_tokens``, ...), through the real client:
priced at the audio rates, or unpriced when the price table has none, never priced as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from .openai_kit import client_answering, httpx, instrumented  # noqa: F401 - instrumented is a fixture


def audio_answer(model: str) -> Any:
    body = {
        "id": "chatcmpl-audio", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": None,
                     "audio": {"id": "audio_1", "data": "AAAA", "expires_at": 2, "transcript": "hi"}}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 20},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 10}},
    }  # fmt: skip

    def handler(request: Any) -> Any:
        return httpx.Response(200, json=body)

    return handler


@pytest.mark.parametrize("model", ["gpt-audio", "gpt-4o-audio-preview"])
def test_audio_tokens_of_a_chat_completion_are_priced_at_the_audio_rates_or_not_at_all(
    instrumented: Any,  # noqa: F811
    model: str,
) -> None:
    client = client_answering(audio_answer(model))
    result = client.chat.completions.create(
        model=model, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "hi"}],
    )  # fmt: skip
    assert result.usage.prompt_tokens_details.audio_tokens == 20
    span = instrumented.only_span()
    attrs = span.attributes
    assert (attrs["gen_ai.usage.input_audio_tokens"], attrs["gen_ai.usage.output_audio_tokens"]) == (20, 10)
    usage = Usage(input_tokens=120, output_tokens=40, input_audio_tokens=20, output_audio_tokens=10)
    prices = calc_price(usage, model, provider_id="openai").model.get_prices(datetime.now(UTC))
    if prices.input_audio_mtok is None:  # the table has no audio price for it: unpriced, not priced as text
        assert "gen_ai.usage.cost" not in attrs
        (unpriced,) = instrumented.metric_points("agentmetrics.calls.unpriced")
        assert unpriced.value == 1
    else:
        assert attrs["gen_ai.usage.cost"] == float(calc_price(usage, model, provider_id="openai").total_price)
        text_only = float(
            calc_price(Usage(input_tokens=120, output_tokens=40), model, provider_id="openai").total_price
        )
        assert attrs["gen_ai.usage.cost"] > text_only
    assert json.loads(result.model_dump_json())["choices"][0]["message"]["audio"]["transcript"] == "hi"


def test_modality_prices_equal_genai_prices_own_for_any_consistent_usage() -> None:
    """The pricer derives per-unit prices from genai-prices once per model and set of usage keys (a millisecond
    per call otherwise); every price must still be genai-prices' own, to the picodollar."""
    import random

    from otel_agentmetrics.pricing import Pricer
    from otel_agentmetrics.record import CallRecord

    pricer = Pricer()
    pricer.load()
    rng = random.Random(24)
    cases = [
        ("gpt-realtime", ("input_audio_tokens", "output_audio_tokens")),
        ("gpt-realtime", ("input_audio_tokens", "output_audio_tokens", "cache_audio_read_tokens")),
        ("gpt-realtime", ("input_audio_tokens", "input_image_tokens",
                          "cache_audio_read_tokens", "cache_image_read_tokens")),
        ("gpt-audio", ("input_audio_tokens", "output_audio_tokens")),
        ("gpt-image-1", ("input_image_tokens",)),
    ]  # fmt: skip
    for model, keys in cases:
        for _ in range(25):
            tokens_in, tokens_out = rng.randint(100, 100_000), rng.randint(50, 5000)
            cached = rng.randint(0, tokens_in // 4) if "cache_audio_read_tokens" in keys else 0
            details = {}
            for name in keys:
                if name.startswith("input_"):
                    details[name] = rng.randint(cached // 2, tokens_in // 3)
                elif name.startswith("output_"):
                    details[name] = rng.randint(0, tokens_out)
            for name in keys:
                if name.startswith("cache_"):
                    within = name.replace("cache_", "input_").replace("_read", "")  # cached audio within audio
                    details[name] = rng.randint(0, min(cached // 2, details[within]))
            record = CallRecord(
                "chat", "openai", request_model=model, input_tokens=tokens_in, output_tokens=tokens_out,
                cache_read_input_tokens=cached, usage_details=dict(details),
            )  # fmt: skip
            usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out, cache_read_tokens=cached, **details)
            expected = round(float(calc_price(usage, model, provider_id="openai").total_price) * 1e12) / 1e12
            priced = pricer.price(record)
            assert priced is not None and priced.usd == pytest.approx(expected, abs=1e-12), (model, details)


def answering(body: Any, content_type: str = "application/json") -> Any:
    def handler(request: Any) -> Any:
        if isinstance(body, bytes):
            return httpx.Response(200, content=body, headers={"content-type": content_type})
        return httpx.Response(200, json=body)

    return handler


def genai_usd(model: str, **usage: Any) -> float:
    return round(float(calc_price(Usage(**usage), model, provider_id="openai").total_price) * 1e12) / 1e12


def test_images_generate_with_gpt_image_tokens(instrumented: Any) -> None:  # noqa: F811
    body = {
        "created": 1, "data": [{"b64_json": "AAAA"}],
        "usage": {"input_tokens": 50, "output_tokens": 1056, "total_tokens": 1106,
                  "input_tokens_details": {"text_tokens": 30, "image_tokens": 20}},
    }  # fmt: skip
    client = client_answering(answering(body))
    result = client.images.generate(model="gpt-image-1", prompt="a cat", size="1024x1024")
    assert result.data[0].b64_json == "AAAA"
    attrs = instrumented.only_span().attributes
    assert (attrs["gen_ai.operation.name"], attrs["gen_ai.output.type"]) == ("generate_content", "image")
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (50, 1056)
    assert attrs["gen_ai.usage.input_image_tokens"] == 20
    expected = genai_usd("gpt-image-1", input_tokens=50, output_tokens=1056, input_image_tokens=20)
    assert attrs["gen_ai.usage.cost"] == expected


def test_transcriptions_by_tokens_and_by_duration(instrumented: Any) -> None:  # noqa: F811
    tokens = {"text": "hello", "usage": {"type": "tokens", "input_tokens": 100, "output_tokens": 10,
              "total_tokens": 110, "input_token_details": {"audio_tokens": 90, "text_tokens": 10}}}  # fmt: skip
    client = client_answering(answering(tokens))
    assert client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", b"RIFF")).text == "hello"
    duration = {"text": "hello", "usage": {"type": "duration", "seconds": 90}}
    client = client_answering(answering(duration))
    assert client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF")).text == "hello"
    first, second = instrumented.finished()
    assert first.attributes["gen_ai.usage.input_audio_tokens"] == 90
    assert first.attributes["gen_ai.usage.cost"] == genai_usd(
        "gpt-4o-transcribe", input_tokens=100, output_tokens=10, input_audio_tokens=90
    )
    assert second.attributes["gen_ai.usage.audio_seconds"] == 90
    assert second.attributes["gen_ai.usage.cost"] == genai_usd("whisper-1", audio_seconds=90)  # $0.36 an hour


def test_speech_is_priced_per_character_where_the_table_says_so(instrumented: Any) -> None:  # noqa: F811
    client = client_answering(answering(b"ID3audio", "audio/mpeg"))
    text = "Hello there, this is a test."
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert audio.content == b"ID3audio"
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.usage.input_characters"] == len(text)
    assert attrs["gen_ai.usage.cost"] == genai_usd("tts-1", input_characters=len(text))
