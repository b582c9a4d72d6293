"""LangChain chat models: a model call recorded from LangChain's own report when no client library recorded it.

A ``ChatOpenAI`` calls the ``openai`` client, whose instrumentor records the call: that span is the call, and this
layer adds nothing. A chat model that talks to its backend some other way (a custom ``BaseChatModel``, an HTTP
API the integration calls itself) is invisible to the client instrumentors; for those, the call is recorded here
when it ends, from the ``AIMessage`` LangChain returns (``usage_metadata``, ``response_metadata``, tool calls), with
the span's start set to when the call began. Whether a client recorded the call is known exactly: while the chat
model runs, a scope watches for any model call the core starts inside it. One span per call, never two, never zero.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import Run, Scope, _aiterate, _iterate, acall, call
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.record import CallRecord


class _Watch(Scope):
    """Active while a chat model runs: notes whether a client instrumentor started a model call inside it."""

    def __init__(self) -> None:
        self.seen = False

    def before_call(self, record: Any) -> None:
        self.seen = True


class ChatModelRun(Run):
    """One ``generate``/``stream`` of a chat model; records its calls at the end unless a client already did."""

    def __init__(self, telemetry: Telemetry, model: Any, kwargs: dict[str, Any], stream: bool) -> None:
        self.telemetry = telemetry
        self.model = model
        self.kwargs = kwargs
        self.stream = stream
        self.watch = _Watch()
        self.scope = self.watch
        self.start_time = time.time_ns()
        self._ended = False

    def end(self, result: Any = None) -> None:
        if self._ended or self.watch.seen:
            self._ended = True
            return
        self._ended = True
        try:
            for message in _messages(result, self.stream):
                self._record(message, None)
        except Exception:
            internal_error("recording a LangChain chat model call")

    def fail(self, error: BaseException) -> None:
        if self._ended or self.watch.seen:
            self._ended = True
            return
        self._ended = True
        if isinstance(error, GeneratorExit):  # a stream closed early: what came so far is not reported
            return
        try:
            self._record(None, error)
        except Exception:
            internal_error("recording a failed LangChain chat model call")

    def _record(self, message: Any, error: BaseException | None) -> None:
        record = _base_record(self.model, self.kwargs, self.stream)
        if message is not None:
            _fill_response(record, message)
        started = self.telemetry.start(record, start_time=self.start_time)
        if error is None:
            started.end()
        else:
            started.fail(error)


_RUN_OPTIONS = frozenset(("callbacks", "tags", "metadata", "run_name", "run_id", "config"))


def _base_record(model: Any, kwargs: dict[str, Any], stream: bool) -> CallRecord:
    params: dict[str, Any] = {}
    try:
        params = dict(model._get_ls_params(**{k: v for k, v in kwargs.items() if k not in _RUN_OPTIONS}))
    except Exception:  # a subclass whose override needs arguments we do not have: the class name will do
        params = {}
    provider = params.get("ls_provider") or type(model).__name__.lower()
    record = CallRecord(sc.OP_CHAT, str(provider), params.get("ls_model_name"), stream=stream)
    temperature, max_tokens = params.get("ls_temperature"), params.get("ls_max_tokens")
    if isinstance(temperature, int | float):
        record.temperature = float(temperature)
    if isinstance(max_tokens, int):
        record.max_tokens = max_tokens
    stop = params.get("ls_stop")
    if isinstance(stop, list):
        record.stop_sequences = [str(s) for s in stop]
    return record


def _messages(result: Any, stream: bool) -> list[Any]:
    """The AI message of each call: one per prompt of ``generate``, the chunks summed for a stream."""
    if stream:
        chunks = [chunk for chunk in result or () if hasattr(chunk, "usage_metadata")]
        if not chunks:
            return []
        total = chunks[0]
        for chunk in chunks[1:]:
            total = total + chunk
        return [total]
    messages = []
    for generations in getattr(result, "generations", None) or ():
        if generations:
            messages.append(getattr(generations[0], "message", None))
    return [m for m in messages if m is not None]


def _fill_response(record: CallRecord, message: Any) -> None:
    metadata = getattr(message, "response_metadata", None) or {}
    model_name = metadata.get("model_name") or metadata.get("model")
    if isinstance(model_name, str):
        record.response_model = model_name
        if record.request_model is None:
            record.request_model = model_name
    response_id = metadata.get("id")
    if isinstance(response_id, str):
        record.response_id = response_id
    finish = metadata.get("finish_reason") or metadata.get("stop_reason")
    if isinstance(finish, str):
        record.finish_reasons = [finish]
    ids = [str(c["id"]) for c in getattr(message, "tool_calls", None) or () if isinstance(c, dict) and c.get("id")]
    if ids:
        record.tool_call_ids = ids
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return
    record.input_tokens = usage.get("input_tokens")
    record.output_tokens = usage.get("output_tokens")
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    record.cache_read_input_tokens = inputs.get("cache_read")
    record.cache_creation_input_tokens = inputs.get("cache_creation")
    record.reasoning_output_tokens = outputs.get("reasoning")


def _open(telemetry: Telemetry, model: Any, kwargs: dict[str, Any], stream: bool) -> ChatModelRun | None:
    try:
        return ChatModelRun(telemetry, model, kwargs, stream)
    except Exception:
        internal_error("opening a LangChain chat model run")
        return None


def generate_wrapper(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open(telemetry, instance, kwargs, False)
        if run is None:
            return wrapped(*args, **kwargs)
        return call(run, wrapped, args, kwargs)

    return traced


def agenerate_wrapper(telemetry: Telemetry) -> Callable[..., Any]:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open(telemetry, instance, kwargs, False)
        if run is None:
            return await wrapped(*args, **kwargs)
        return await acall(run, wrapped, args, kwargs)

    return traced


def stream_wrapper(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _stream(telemetry, wrapped, instance, args, kwargs)

    return traced


def _stream(
    telemetry: Telemetry, wrapped: Callable[..., Any], model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[Any]:
    run = _open(telemetry, model, kwargs, True)  # at the first step, as the model's own generator starts then
    if run is None:
        return (yield from wrapped(*args, **kwargs))
    with run.activate():
        chunks = wrapped(*args, **kwargs)
    return (yield from _iterate(run, chunks, True))


def astream_wrapper(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _astream(telemetry, wrapped, instance, args, kwargs)

    return traced


async def _astream(
    telemetry: Telemetry, wrapped: Callable[..., Any], model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    run = _open(telemetry, model, kwargs, True)
    if run is None:
        chunks = wrapped(*args, **kwargs)
    else:
        with run.activate():
            chunks = _aiterate(run, wrapped(*args, **kwargs), True)
    try:
        async for chunk in chunks:
            yield chunk
    finally:  # closed early: close the model's stream now, as a caller closing it directly would
        await chunks.aclose()
