"""Which GenAI names a setup emits: the v1.41.1 ones (the default), the latest ones, or both.

``OTEL_SEMCONV_STABILITY_OPT_IN`` is the standard switch (a comma-separated list, as the other
instrumentations read it). ``gen_ai_latest_experimental`` asks for the latest conventions of
open-telemetry/semantic-conventions-genai and none of the names they deprecated; our own
``agentmetrics_gen_ai_dup`` asks for both sets while dashboards and alerts move over. It is read once, when a
setup's :class:`~otel_agentmetrics._telemetry.Telemetry` is built: the call path only reads the tables chosen here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import semconv as sc


@dataclass(frozen=True, slots=True)
class Conventions:
    """The name sets one setup emits."""

    legacy: bool = True
    """The v1.41.1 names: ``gen_ai.system``, ``gen_ai.usage.cache_creation.input_tokens``,
    ``gen_ai.client.token.usage``, content as a span event."""
    latest: bool = False
    """The latest names: ``gen_ai.usage.cache_write.input_tokens``, the ``gen_ai.client.inference.*`` token
    metrics, content events through the logger provider."""

    @property
    def mode(self) -> str:
        return "both" if self.legacy and self.latest else "latest" if self.latest else "legacy"


LEGACY = Conventions()
LATEST = Conventions(legacy=False, latest=True)
BOTH = Conventions(legacy=True, latest=True)


def parse(value: str | None) -> Conventions:
    """The conventions asked for by an ``OTEL_SEMCONV_STABILITY_OPT_IN`` value (other entries, for other
    domains such as ``http``, are not ours and are ignored)."""
    entries = {entry.strip().lower() for entry in (value or "").split(",")}
    if sc.OPT_IN_GEN_AI_DUP in entries:
        return BOTH
    if sc.OPT_IN_GEN_AI_LATEST in entries:
        return LATEST
    return LEGACY


def from_environment() -> Conventions:
    return parse(os.environ.get(sc.ENV_SEMCONV_STABILITY_OPT_IN))


def response_fields(conventions: Conventions) -> tuple[tuple[str, str], ...]:
    """Span attribute <- record field, set when a model call ends, for these conventions."""
    cache_write: tuple[tuple[str, str], ...] = ()
    if conventions.legacy:
        cache_write += ((sc.USAGE_CACHE_CREATION_INPUT_TOKENS, "cache_creation_input_tokens"),)
    if conventions.latest:
        cache_write += ((sc.USAGE_CACHE_WRITE_INPUT_TOKENS, "cache_creation_input_tokens"),)
    return (
        (sc.RESPONSE_ID, "response_id"),
        (sc.RESPONSE_MODEL, "response_model"),
        (sc.RESPONSE_FINISH_REASONS, "finish_reasons"),
        (sc.USAGE_INPUT_TOKENS, "input_tokens"),
        (sc.USAGE_OUTPUT_TOKENS, "output_tokens"),
        (sc.USAGE_CACHE_READ_INPUT_TOKENS, "cache_read_input_tokens"),
        *cache_write,
        (sc.USAGE_REASONING_OUTPUT_TOKENS, "reasoning_output_tokens"),
        (sc.USAGE_COST, "cost"),  # ours in every mode: the conventions have no cost name yet
        (sc.OPERATION_COST, "cost"),
        (sc.COST_SOURCE, "cost_source"),
        (sc.RESPONSE_TIME_TO_FIRST_CHUNK, "time_to_first_chunk"),
        (sc.CLIENT_TIME_TO_FIRST_CHUNK, "time_to_first_chunk"),
        (sc.ERROR_TYPE, "error_type"),
    )
