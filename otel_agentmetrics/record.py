"""The neutral record of one model call.

An instrumentor's whole job is to fill a :class:`CallRecord` from its library's request, response and stream
shapes. The core (:mod:`otel_agentmetrics._telemetry`) alone turns the record into span attributes, metrics and
cost, so every provider is described the same way and priced by the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class CallRecord:
    """Everything known about one model call, in provider-neutral terms.

    Token counts follow the conventions: ``input_tokens`` counts *all* input tokens, cached ones included
    (an adapter for a provider that reports them apart adds them back); ``output_tokens`` includes reasoning.
    ``None`` means "not reported" and is never recorded as zero.
    """

    operation: str
    provider: str
    request_model: str | None = None
    server_address: str | None = None
    server_port: int | None = None

    # Request parameters.
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop_sequences: list[str] | None = None
    seed: int | None = None
    choice_count: int | None = None
    stream: bool = False
    conversation_id: str | None = None

    # Response.
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] | None = None
    tool_call_ids: list[str] | None = None

    # Usage.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    provider_cost: float | None = None
    """A cost the provider reported itself (e.g. OpenRouter's ``usage.cost``), in USD; believed over the table."""

    # Content: filled only when content capture is on (see ``Telemetry.capture_content``).
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    tool_definitions: list[dict[str, Any]] | None = None

    # Anything provider-specific worth keeping on the span (e.g. ``openai.request.service_tier``).
    attributes: dict[str, Any] = field(default_factory=dict)

    # Filled by the core.
    error_type: str | None = None
    time_to_first_chunk: float | None = None
    duration: float | None = None
    cost: float | None = None
    cost_source: str | None = None

    # Appended after the core's fields (batch, realtime and modality usage).
    processing: str | None = None
    """How the provider ran the call when it is not interactive: ``"batch"`` for a batch API's results. Priced
    through genai-prices' own ``processing`` price context (the batch discount), and a metric attribute."""
    usage_details: dict[str, int | float] | None = None
    """Usage by genai-prices' usage keys, beyond the counts above: ``input_audio_tokens``,
    ``output_audio_tokens``, ``cache_audio_read_tokens``, ``input_image_tokens``, ``input_characters``,
    ``input_audio_seconds``... Each is part of the totals above, as genai-prices counts them (audio input tokens are
    among ``input_tokens``). A non-zero detail the price table has no price for leaves the call unpriced: it is
    never priced as text."""


MAX_TOKENS = 2**53
MAX_MODEL_NAME = 256
"""Longest model name recorded: a longer one (a gateway passes user-chosen names through) is cut to this many
characters, the last one ``…``, on the span name, attributes, metrics, the store and log lines."""


def short_model(name: str) -> str:
    """``name`` cut to :data:`MAX_MODEL_NAME` characters (the last ``…``), or as is when it fits."""
    return name if len(name) <= MAX_MODEL_NAME else name[: MAX_MODEL_NAME - 1] + "\u2026"


"""The largest token count believed: past it a float (every metric backend's number) is no longer exact, and no
real call comes near it."""

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_output_tokens",
)


_TEXT = (str, type(None))


def checked(record: CallRecord) -> list[str] | None:
    """Make the record safe to turn into telemetry; return the fields whose value was not (now ``None``).

    Values come from servers and from clients that do not validate (a proxy's ``"prompt_tokens": "abc"``, a
    count of 2**63, ``"model": []``). One such value must cost its own field only, never the call's other
    attributes, another call's metric points or a whole batch of stored spans. Token counts must be whole,
    non-negative numbers up to :data:`MAX_TOKENS` (an integral float such as ``6.0`` becomes ``6``; booleans,
    fractions, inf and NaN are rejected); response id and model must be strings; a provider's cost must be a
    finite, non-negative number. The common case (plain ints and strings) costs a few type checks.
    """
    if record.usage_details is not None:
        _check_details(record)
    for value in (
        record.input_tokens,
        record.output_tokens,
        record.cache_read_input_tokens,
        record.cache_creation_input_tokens,
        record.reasoning_output_tokens,
    ):
        if value is not None and not (type(value) is int and 0 <= value <= MAX_TOKENS):
            break
    else:  # the common case, checked without a lookup by name: this runs once per call
        if type(record.response_model) in _TEXT and type(record.response_id) in _TEXT and record.provider_cost is None:
            if record.response_model is not None and len(record.response_model) > MAX_MODEL_NAME:
                record.response_model = short_model(record.response_model)
            return None
    rejected: list[str] | None = None
    for name in TOKEN_FIELDS:
        value = getattr(record, name)
        if value is None or (type(value) is int and 0 <= value <= MAX_TOKENS):
            continue
        count = token_count(value)
        setattr(record, name, count)
        if count is None:
            rejected = [*(rejected or ()), name]
    for name in ("response_id", "response_model"):
        value = getattr(record, name)
        if value is not None and not isinstance(value, str):
            setattr(record, name, None)
            rejected = [*(rejected or ()), name]
    if record.response_model is not None and len(record.response_model) > MAX_MODEL_NAME:
        record.response_model = short_model(record.response_model)
    cost = record.provider_cost
    if cost is not None and not (type(cost) is float and 0.0 <= cost < math.inf):
        record.provider_cost = _dollars(cost)
        if record.provider_cost is None:
            rejected = [*(rejected or ()), "provider_cost"]
    return rejected


def _check_details(record: CallRecord) -> None:
    """Drop the usage details that are not counts (a detail is one more price key; a bad one is just absent)."""
    details = record.usage_details
    if not isinstance(details, dict):
        record.usage_details = None
        return
    kept: dict[str, int | float] = {}
    for name, value in details.items():
        count: int | float | None = (
            value if type(value) is int and 0 <= value <= MAX_TOKENS else token_count(value)
        )
        if count is None and isinstance(name, str) and name.endswith("_seconds"):
            count = _dollars(value)  # durations may be fractional
        if isinstance(name, str) and count is not None:
            kept[name] = count
    record.usage_details = kept or None


def token_count(value: Any) -> int | None:
    """A reported token count as an ``int``, or ``None`` if it cannot be one (see :func:`checked`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value) if 0 <= value <= MAX_TOKENS else None
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_TOKENS:
        return int(value)
    return None


def count_sum(*parts: Any) -> Any:
    """The sum of counts that make up one field (input plus cache reads and writes, say); ``None`` parts are left
    out, and all ``None`` gives ``None``. A part that is not a count is returned instead of a sum, so that
    :func:`checked` drops that one field and counts it, rather than the adapter failing on ``"abc" + 5``."""
    total = None
    for part in parts:
        if part is None:
            continue
        count = part if type(part) is int else token_count(part)
        if count is None:
            return part
        total = count if total is None else total + count
    return total


def _dollars(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if 0.0 <= value < math.inf else None
