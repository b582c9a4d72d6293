"""The neutral record of one model call.

An instrumentor's whole job is to fill a :class:`CallRecord` from its library's request, response and stream
shapes. The core (:mod:`otel_agentmetrics._telemetry`) alone turns the record into span attributes, metrics and
cost, so every provider is described the same way and priced by the same code.
"""

from __future__ import annotations

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
