"""Responses: the client's parsed models read into the record (Chat Completions, Responses, embeddings, legacy
completions), shared by plain calls, raw-response wrappers and the stream accumulators."""

from __future__ import annotations

from typing import Any

from otel_agentmetrics.record import CallRecord

from . import _content
from ._request import CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES

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


def chat_usage(record: CallRecord, usage: Any) -> None:
    """Chat Completions / legacy completions / embeddings usage (``prompt_tokens`` ...)."""
    if usage is None:
        return
    record.input_tokens = getattr(usage, "prompt_tokens", None)
    record.output_tokens = getattr(usage, "completion_tokens", None)
    cached = _field(_field(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is not None:
        record.cache_read_input_tokens = cached
    reasoning = _field(_field(usage, "completion_tokens_details"), "reasoning_tokens")
    if reasoning is not None:
        record.reasoning_output_tokens = reasoning
    _provider_cost(record, usage)


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
    cost = _field(usage, "cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        record.provider_cost = float(cost)


def _service_tier(record: CallRecord, result: Any) -> None:
    tier = getattr(result, "service_tier", None)
    if tier is not None:
        record.attributes[RESPONSE_SERVICE_TIER] = tier
    fingerprint = getattr(result, "system_fingerprint", None)
    if fingerprint is not None:
        record.attributes[SYSTEM_FINGERPRINT] = fingerprint


# Each reader takes usage first, read on its own: a body whose other fields the client could not parse (no
# ``choices``, a ``null`` output) still yields its tokens, and the rest fails apart from them.


def read_chat(record: CallRecord, result: Any, capture: bool) -> None:
    chat_usage(record, getattr(result, "usage", None))
    record.response_id = result.id
    record.response_model = result.model
    choices = result.choices or ()
    record.finish_reasons = [choice.finish_reason or "" for choice in choices]
    ids: list[str] = []
    for choice in choices:
        for call in getattr(choice.message, "tool_calls", None) or ():
            ids.append(call.id)
    if ids:
        record.tool_call_ids = ids
    _service_tier(record, result)
    if capture:
        record.output_messages = [_content.chat_output(c.message, c.finish_reason) for c in choices]


def read_completion(record: CallRecord, result: Any, capture: bool) -> None:
    chat_usage(record, getattr(result, "usage", None))
    record.response_id = result.id
    record.response_model = result.model
    record.finish_reasons = [choice.finish_reason or "" for choice in result.choices or ()]
    _service_tier(record, result)
    if capture:
        record.output_messages = [
            {"role": "assistant", "parts": [{"type": "text", "content": c.text}], "finish_reason": c.finish_reason}
            for c in result.choices
        ]


def responses_finish_reason(result: Any) -> str:
    details = getattr(result, "incomplete_details", None)
    reason = getattr(details, "reason", None) if details is not None else None
    return reason or getattr(result, "status", None) or "completed"


def read_responses(record: CallRecord, result: Any, capture: bool) -> None:
    responses_usage(record, getattr(result, "usage", None))
    record.response_id = result.id
    record.response_model = result.model
    reason = responses_finish_reason(result)
    record.finish_reasons = [reason]
    ids = [item.call_id for item in result.output or () if getattr(item, "type", None) == "function_call"]
    if ids:
        record.tool_call_ids = ids
    tier = getattr(result, "service_tier", None)
    if tier is not None:
        record.attributes[RESPONSE_SERVICE_TIER] = tier
    conversation = getattr(result, "conversation", None)
    if conversation is not None and record.conversation_id is None:
        record.conversation_id = getattr(conversation, "id", None)
    if capture:
        record.output_messages = _content.responses_output(result.output, reason)


def read_embeddings(record: CallRecord, result: Any, capture: bool) -> None:
    usage = getattr(result, "usage", None)
    if usage is not None:
        record.input_tokens = getattr(usage, "prompt_tokens", None)
        _provider_cost(record, usage)
    record.response_model = result.model


READERS = {CHAT: read_chat, RESPONSES: read_responses, EMBEDDINGS: read_embeddings, COMPLETIONS: read_completion}
