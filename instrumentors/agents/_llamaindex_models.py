"""LlamaIndex LLMs: a model call recorded from LlamaIndex's own report when no client library recorded it.

``llama_index.llms.openai.OpenAI`` calls the ``openai`` client, whose instrumentor records the call: that span is
the call. An LLM that reaches its backend some other way (your own ``CustomLLM``, an integration that talks HTTP
itself) is invisible to the client instrumentors; its call is recorded here when it ends. Every LLM call of
LlamaIndex (``chat``, ``complete``, their async and streaming forms) is bracketed by the LLM's callback manager:
``on_event_start(CBEventType.LLM)`` before it, ``on_event_end`` with the response or the exception after it (for a
stream, once it is exhausted or fails), with one event id. While the call runs, a scope watches for a model call a
client instrumentor starts inside it; if none did, the call is recorded from the response: usage as LlamaIndex's
token counter reads it (``raw["usage"]``, ``raw["usage_metadata"]``, else ``additional_kwargs``), the model from
the LLM's serialized fields, the provider from its class name. One span per call, never two, never none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._context import CallRefused, active_scopes
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import Scope
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.record import CallRecord

_LLM = "llm"  # ``CBEventType.LLM.value``
_INPUT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count")
_OUTPUT_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count")


class _Watch(Scope):
    """Active while an LLM call runs: notes whether a client instrumentor started a model call inside it."""

    __slots__ = ("seen", "token", "serialized", "stream", "start_time")

    def __init__(self, serialized: Any) -> None:
        self.seen = False
        self.token: Any = None
        self.serialized = serialized if isinstance(serialized, dict) else {}
        self.start_time = time.time_ns()

    def before_call(self, record: Any) -> None:
        self.seen = True


class PendingCalls:
    """The LLM calls in progress, by callback event id (one instrumentor's)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.calls: dict[str, _Watch] = {}

    def start(self, event_id: Any, payload: Any) -> None:
        if not isinstance(event_id, str) or not isinstance(payload, dict):
            return
        watch = _Watch(payload.get("serialized"))
        watch.token = active_scopes.set((*active_scopes.get(), watch))
        self.calls[event_id] = watch

    def end(self, event_id: Any, payload: Any) -> None:
        watch = self.calls.pop(event_id, None) if isinstance(event_id, str) else None
        if watch is None:
            return
        try:
            active_scopes.reset(watch.token)
        except ValueError:  # ended in another context than it started in (a stream consumed elsewhere)
            with suppress(Exception):
                active_scopes.set(tuple(s for s in active_scopes.get() if s is not watch))
        if watch.seen or not isinstance(payload, dict):
            return
        error = payload.get("exception")
        if isinstance(error, BaseException) and not isinstance(error, Exception):
            return  # cancelled or closed early: no call failed, and what came so far is not a response
        record = _record(watch.serialized)
        response = payload.get("response", payload.get("completion"))
        if error is None:
            _fill_response(record, response)
        call = self.telemetry.start(record, start_time=watch.start_time)
        if isinstance(error, BaseException):
            call.fail(error)
        else:
            call.end()


def _record(serialized: dict[str, Any]) -> CallRecord:
    model = serialized.get("model") or serialized.get("model_name")
    class_name = serialized.get("class_name")
    provider = class_name.lower() if isinstance(class_name, str) and class_name else "llama_index"
    record = CallRecord(sc.OP_CHAT, provider, model if isinstance(model, str) and model else None)
    temperature, max_tokens = serialized.get("temperature"), serialized.get("max_tokens")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        record.temperature = float(temperature)
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        record.max_tokens = max_tokens
    return record


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        with suppress(Exception):
            dumped = dump()
            if isinstance(dumped, dict):
                return dumped
    return {}


def _first(usage: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _fill_response(record: CallRecord, response: Any) -> None:
    if response is None:
        return
    raw = _as_dict(getattr(response, "raw", None))
    extra = getattr(response, "additional_kwargs", None)
    usage = _as_dict(raw.get("usage") or raw.get("usage_metadata")) or (extra if isinstance(extra, dict) else {})
    record.input_tokens = _first(usage, _INPUT_KEYS)
    record.output_tokens = _first(usage, _OUTPUT_KEYS)
    model = raw.get("model")
    if isinstance(model, str) and model:
        record.response_model = model
        record.request_model = record.request_model or model
    response_id = raw.get("id")
    if isinstance(response_id, str) and response_id:
        record.response_id = response_id
    message = getattr(response, "message", None)
    calls = getattr(message, "additional_kwargs", {}).get("tool_calls") if message is not None else None
    ids = [str(_as_dict(c).get("id") or getattr(c, "id", "")) for c in calls or ()]
    if any(ids):
        record.tool_call_ids = [i for i in ids if i]


def on_event_start(pending: PendingCalls) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        event_id = wrapped(*args, **kwargs)
        event_type = args[0] if args else kwargs.get("event_type")
        if getattr(event_type, "value", None) == _LLM:
            try:
                pending.start(event_id, args[1] if len(args) > 1 else kwargs.get("payload"))
            except Exception:
                internal_error("opening a LlamaIndex LLM call")
        return event_id

    return traced


def on_event_end(pending: PendingCalls) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        event_type = args[0] if args else kwargs.get("event_type")
        if getattr(event_type, "value", None) == _LLM:
            try:
                event_id = args[2] if len(args) > 2 else kwargs.get("event_id")
                pending.end(event_id, args[1] if len(args) > 1 else kwargs.get("payload"))
            except CallRefused:
                raise  # a budget spent by earlier calls: meant for the user, as before any other model call
            except Exception:
                internal_error("recording a LlamaIndex LLM call")
        return result

    return traced
