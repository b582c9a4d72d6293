"""Responses: the client's parsed models read into the record (Chat Completions, Responses, embeddings, legacy
completions), shared by plain calls, raw-response wrappers and the stream accumulators."""

from __future__ import annotations

from typing import Any

from otel_agentmetrics.record import CallRecord

from . import _content
from ._request import CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, RESPONSES, SPEECH, TRANSCRIPTION

_NUMBERS = (int, float)
_NOTHING: dict[str, Any] = {}  # the fields of an absent object: none (never written)
RESPONSE_SERVICE_TIER = "openai.response.service_tier"
SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"


def _field(obj: Any, name: str) -> Any:
    """A field that the client's model may not declare (``cost``; ``prompt_tokens_details`` before 1.51), or a dict.

    Read from the model's state rather than with ``getattr``: pydantic 2 answers a missing attribute by raising
    and catching an ``AttributeError``, which cost more than reading the rest of the response.
    """
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    state = getattr(obj, "__dict__", None)
    if state is not None and name in state:
        return state[name]
    extra = getattr(obj, "__pydantic_extra__", None)  # pydantic 2 keeps undeclared fields here
    if isinstance(extra, dict):
        return extra.get(name)
    return getattr(obj, name, None)


def _state(obj: Any) -> dict[str, Any] | None:
    """The dict from which each field of ``obj`` is read with one ``get``, answering what :func:`_field` would:
    a dict itself, or the state of a client model that holds no undeclared field (``__pydantic_extra__`` empty:
    a field not in the state is then absent). ``None``: read field by field."""
    if type(obj) is dict:
        return obj
    state = getattr(obj, "__dict__", None)
    if type(state) is dict:
        extra = getattr(obj, "__pydantic_extra__", None)
        if type(extra) is dict and not extra:
            return state
    return None


def chat_usage(record: CallRecord, usage: Any) -> None:
    """Chat Completions / legacy completions / embeddings usage (``prompt_tokens`` ...)."""
    if usage is None:
        return
    state = _state(usage) if type(usage) is not dict else None  # (a dict's counts are not read: no attributes)
    if state is not None:  # the client's model: one dict get per field
        get = state.get
        record.input_tokens = get("prompt_tokens")
        record.output_tokens = get("completion_tokens")
        prompt_details = get("prompt_tokens_details")
        completion_details = get("completion_tokens_details")
        prompt = _state(prompt_details) if prompt_details is not None else _NOTHING
        completion = _state(completion_details) if completion_details is not None else _NOTHING
        if prompt is not None and completion is not None:
            cached = prompt.get("cached_tokens")
            if cached is not None:
                record.cache_read_input_tokens = cached
            reasoning = completion.get("reasoning_tokens")
            if reasoning is not None:
                record.reasoning_output_tokens = reasoning
            _audio(record, prompt.get("audio_tokens"), completion.get("audio_tokens"))
            _cost(record, get("cost"))
            return
    else:
        record.input_tokens = getattr(usage, "prompt_tokens", None)
        record.output_tokens = getattr(usage, "completion_tokens", None)
        prompt_details = _field(usage, "prompt_tokens_details")
        completion_details = _field(usage, "completion_tokens_details")
    cached = _field(prompt_details, "cached_tokens")
    if cached is not None:
        record.cache_read_input_tokens = cached
    reasoning = _field(completion_details, "reasoning_tokens")
    if reasoning is not None:
        record.reasoning_output_tokens = reasoning
    _audio(record, _field(prompt_details, "audio_tokens"), _field(completion_details, "audio_tokens"))
    _provider_cost(record, usage)


def _audio(record: CallRecord, audio_in: Any, audio_out: Any) -> None:
    if audio_in or audio_out:  # audio models (gpt-4o-audio-preview ...): priced at the audio rates, or unpriced
        record.usage_details = {
            name: count
            for name, count in (("input_audio_tokens", audio_in), ("output_audio_tokens", audio_out))
            if count
        }


def responses_usage(record: CallRecord, usage: Any) -> None:
    """Responses API usage (``input_tokens`` ...)."""
    if usage is None:
        return
    record.input_tokens = getattr(usage, "input_tokens", None)
    record.output_tokens = getattr(usage, "output_tokens", None)
    cached = _field(_field(usage, "input_tokens_details"), "cached_tokens")
    if cached is not None:
        record.cache_read_input_tokens = cached
    reasoning = _field(_field(usage, "output_tokens_details"), "reasoning_tokens")
    if reasoning is not None:
        record.reasoning_output_tokens = reasoning
    _provider_cost(record, usage)


def _provider_cost(record: CallRecord, usage: Any) -> None:
    # OpenRouter (and some other gateways) report the dollars they charged as an extra usage field.
    _cost(record, _field(usage, "cost"))


def _cost(record: CallRecord, cost: Any) -> None:
    if isinstance(cost, _NUMBERS) and not isinstance(cost, bool):
        record.provider_cost = float(cost)


def _service_tier(record: CallRecord, result: Any) -> None:
    tier = getattr(result, "service_tier", None)
    if isinstance(tier, str):
        record.attributes[RESPONSE_SERVICE_TIER] = tier
    fingerprint = getattr(result, "system_fingerprint", None)
    if isinstance(fingerprint, str):
        record.attributes[SYSTEM_FINGERPRINT] = fingerprint


# Each reader takes usage first, read on its own: a body whose other fields the client could not parse (no
# ``choices``, a ``null`` output) still yields its tokens. The client does not validate what it reads, so any
# field may hold any JSON value: a field of the wrong shape is left out (the record checks the types of ids,
# models and counts), and the rest of the call's telemetry is kept.


def _items(value: Any) -> Any:
    """A list field, or nothing when the server sent something else there (``"choices": "0"``)."""
    return value if isinstance(value, list) else ()


def _reason(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ids(values: Any) -> list[str] | None:
    """The string ids among ``values``; ``None`` when there are none."""
    return [value for value in values if isinstance(value, str)] or None


def read_chat(record: CallRecord, result: Any, capture: bool) -> None:
    # Each attribute read on a client model goes through pydantic's __getattr__ hook (hundreds of instructions):
    # the response's own fields are read from its state, in one read.
    state = _state(result) if type(result) is not dict else None
    if state is None:
        _read_chat_fields(record, result, capture)
        return
    get = state.get
    chat_usage(record, get("usage"))
    record.response_id = get("id")
    record.response_model = get("model")
    choices = _items(get("choices"))
    record.finish_reasons = [_reason(getattr(choice, "finish_reason", None)) for choice in choices]
    record.tool_call_ids = _ids(
        getattr(call, "id", None)
        for choice in choices
        for call in _items(getattr(getattr(choice, "message", None), "tool_calls", None))
    )
    tier = get("service_tier")
    if isinstance(tier, str):
        record.attributes[RESPONSE_SERVICE_TIER] = tier
    fingerprint = get("system_fingerprint")
    if isinstance(fingerprint, str):
        record.attributes[SYSTEM_FINGERPRINT] = fingerprint
    if capture:
        record.output_messages = [
            _content.chat_output(getattr(c, "message", None), getattr(c, "finish_reason", None)) for c in choices
        ]


def _read_chat_fields(record: CallRecord, result: Any, capture: bool) -> None:
    chat_usage(record, getattr(result, "usage", None))
    record.response_id = getattr(result, "id", None)
    record.response_model = getattr(result, "model", None)
    choices = _items(getattr(result, "choices", None))
    record.finish_reasons = [_reason(getattr(choice, "finish_reason", None)) for choice in choices]
    record.tool_call_ids = _ids(
        getattr(call, "id", None)
        for choice in choices
        for call in _items(getattr(getattr(choice, "message", None), "tool_calls", None))
    )
    _service_tier(record, result)
    if capture:
        record.output_messages = [
            _content.chat_output(getattr(c, "message", None), getattr(c, "finish_reason", None)) for c in choices
        ]


def read_completion(record: CallRecord, result: Any, capture: bool) -> None:
    chat_usage(record, getattr(result, "usage", None))
    record.response_id = getattr(result, "id", None)
    record.response_model = getattr(result, "model", None)
    choices = _items(getattr(result, "choices", None))
    record.finish_reasons = [_reason(getattr(choice, "finish_reason", None)) for choice in choices]
    _service_tier(record, result)
    if capture:
        record.output_messages = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": getattr(c, "text", None)}],
                "finish_reason": getattr(c, "finish_reason", None),
            }
            for c in choices
        ]


def responses_finish_reason(result: Any) -> str:
    details = getattr(result, "incomplete_details", None)
    reason = getattr(details, "reason", None) if details is not None else None
    if isinstance(reason, str) and reason:
        return reason
    status = getattr(result, "status", None)
    return status if isinstance(status, str) and status else "completed"


def read_responses(record: CallRecord, result: Any, capture: bool) -> None:
    responses_usage(record, getattr(result, "usage", None))
    record.response_id = getattr(result, "id", None)
    record.response_model = getattr(result, "model", None)
    reason = responses_finish_reason(result)
    record.finish_reasons = [reason]
    output = _items(getattr(result, "output", None))
    record.tool_call_ids = _ids(
        getattr(item, "call_id", None) for item in output if getattr(item, "type", None) == "function_call"
    )
    tier = getattr(result, "service_tier", None)
    if isinstance(tier, str):
        record.attributes[RESPONSE_SERVICE_TIER] = tier
    conversation = getattr(result, "conversation", None)
    if conversation is not None and record.conversation_id is None:
        conversation_id = getattr(conversation, "id", None)
        record.conversation_id = conversation_id if isinstance(conversation_id, str) else None
    if capture:
        record.output_messages = _content.responses_output(output, reason)


def read_embeddings(record: CallRecord, result: Any, capture: bool) -> None:
    usage = getattr(result, "usage", None)
    if usage is not None:
        record.input_tokens = getattr(usage, "prompt_tokens", None)
        _provider_cost(record, usage)
    record.response_model = getattr(result, "model", None)


def read_images(record: CallRecord, result: Any, capture: bool) -> None:
    """``images.generate``: token usage for gpt-image models (text and image input, image output); dall-e models
    report none (and genai-prices 0.2.5 has no per-image price for them: no cost, never a guess)."""
    usage = getattr(result, "usage", None)
    if usage is None:
        return
    record.input_tokens = getattr(usage, "input_tokens", None)
    record.output_tokens = getattr(usage, "output_tokens", None)
    images = _field(_field(usage, "input_tokens_details"), "image_tokens")
    if images:
        record.usage_details = {"input_image_tokens": images}


def read_transcription(record: CallRecord, result: Any, capture: bool) -> None:
    """``audio.transcriptions``/``translations``: tokens (gpt-4o-transcribe: audio input among them) or the
    audio's duration (whisper-1: priced per hour of audio). A plain-text answer (``response_format="text"``)
    carries no usage."""
    usage = getattr(result, "usage", None)
    if usage is None or isinstance(result, str):
        return
    kind = getattr(usage, "type", None)
    if kind == "duration":
        seconds = getattr(usage, "seconds", None)
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            record.usage_details = {"audio_seconds": seconds}
        return
    record.input_tokens = getattr(usage, "input_tokens", None)
    record.output_tokens = getattr(usage, "output_tokens", None)
    audio = _field(_field(usage, "input_token_details"), "audio_tokens")
    if audio:
        record.usage_details = {"input_audio_tokens": audio}


def read_speech(record: CallRecord, result: Any, capture: bool) -> None:
    """``audio.speech``: the answer is audio bytes, with no usage; the request's characters were counted."""


READERS = {
    CHAT: read_chat,
    RESPONSES: read_responses,
    EMBEDDINGS: read_embeddings,
    COMPLETIONS: read_completion,
    IMAGES: read_images,
    TRANSCRIPTION: read_transcription,
    SPEECH: read_speech,
}
