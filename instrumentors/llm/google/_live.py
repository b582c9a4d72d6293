"""Gemini Live (``client.aio.live.connect()``): a session span and one span per model turn, audio priced.

The session is one ``realtime <model>`` span (INTERNAL) from entering ``connect()`` to leaving it (or the
session's ``close()``). Each model turn is a ``generate_content <model>`` span under it, from the first message
of the turn the app receives to the one that completes it (``server_content.turn_complete``, or a ``tool_call``,
which ends the model's turn until the app answers); its tokens are the last ``usage_metadata`` seen in the turn,
by modality (``prompt_tokens_details``/``response_tokens_details``/``cache_tokens_details``), priced at the audio
and image rates. The first content of a turn is its time to first chunk. A function call answered with
``send_tool_response`` is an ``execute_tool`` span. An error raised by ``receive`` marks the session.

What we read: the messages ``AsyncSession._receive`` returns (``receive()`` iterates it) and the tool responses
sent; the messages are handed on untouched.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import wrapt

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._groups import CallGroup, chunk_stamp
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics.record import CallRecord, count_sum

from . import _gemini as gemini

_INPUT = {"AUDIO": "input_audio_tokens", "IMAGE": "input_image_tokens", "VIDEO": "input_video_tokens"}
_OUTPUT = {"AUDIO": "output_audio_tokens", "IMAGE": "output_image_tokens"}
_CACHED = {"AUDIO": "cache_audio_read_tokens", "IMAGE": "cache_image_read_tokens", "VIDEO": "cache_video_read_tokens"}


def _modality(value: Any) -> str | None:
    value = getattr(value, "value", value)
    return value if isinstance(value, str) else None


def _details(out: dict[str, int | float], entries: Any, names: dict[str, str]) -> None:
    for entry in entries or ():
        name = names.get(_modality(gemini.get(entry, "modality")) or "")
        count = gemini.get(entry, "token_count")
        if name is not None and isinstance(count, int) and count:
            out[name] = out.get(name, 0) + count


class LiveSession:
    def __init__(self, telemetry: Telemetry, model: str | None, provider: str) -> None:
        self.telemetry = telemetry
        self.model = model
        self.provider = provider
        attrs: dict[str, Any] = {sc.CUSTOM_OPERATION_NAME: sc.OP_REALTIME, sc.PROVIDER_NAME: provider}
        if model:
            attrs[sc.REQUEST_MODEL] = model
        self.group = CallGroup(
            telemetry,
            f"{sc.OP_REALTIME} {model}" if model else sc.OP_REALTIME,
            attrs,
            (sc.REALTIME_RESPONSES, "agentmetrics.realtime.failed_responses"),
        )
        self.call: Call | None = None
        self.stamp: Any = None
        self.usage: Any = None
        self.tools: dict[str, tuple[str, Any, int]] = {}
        self.error_type: str | None = None

    def received(self, message: Any) -> None:
        content = getattr(message, "server_content", None)
        tool_call = getattr(message, "tool_call", None)
        usage = getattr(message, "usage_metadata", None)
        if self.call is None and (content is not None or tool_call is not None):
            record = CallRecord(sc.OP_GENERATE_CONTENT, self.provider, request_model=self.model, stream=True)
            self.call = self.group.start(record)
            self.stamp = chunk_stamp(self.call)
        if usage is not None:
            self.usage = usage
        if content is not None and getattr(content, "model_turn", None) is not None and self.stamp is not None:
            self.stamp(time.perf_counter())
        if tool_call is not None or (content is not None and getattr(content, "turn_complete", None)):
            self._end_turn(tool_call)

    def _end_turn(self, tool_call: Any) -> None:
        call, usage = self.call, self.usage
        if call is None:
            return
        self.call = self.stamp = self.usage = None
        record = call.record
        if usage is not None:
            record.input_tokens = count_sum(
                gemini.get(usage, "prompt_token_count"), gemini.get(usage, "tool_use_prompt_token_count")
            )
            record.output_tokens = count_sum(
                gemini.get(usage, "response_token_count"), gemini.get(usage, "thoughts_token_count")
            )
            record.reasoning_output_tokens = gemini.get(usage, "thoughts_token_count") or None
            record.cache_read_input_tokens = gemini.get(usage, "cached_content_token_count") or None
            details: dict[str, int | float] = {}
            _details(details, gemini.get(usage, "prompt_tokens_details"), _INPUT)
            _details(details, gemini.get(usage, "response_tokens_details"), _OUTPUT)
            _details(details, gemini.get(usage, "cache_tokens_details"), _CACHED)
            record.usage_details = details or None
        calls = [c for c in (gemini.get(tool_call, "function_calls") or ()) if gemini.get(c, "name")]
        ids = [c.id for c in calls if isinstance(getattr(c, "id", None), str)]
        record.tool_call_ids = ids or None
        record.finish_reasons = ["tool_call" if calls else "turn_complete"]
        call.end()
        self.group.add(record)
        asked = time.time_ns()
        for function_call in calls:
            if isinstance(function_call.id, str):
                self.tools[function_call.id] = (function_call.name, gemini.get(function_call, "args"), asked)

    def answered(self, responses: Any) -> None:
        items = responses if isinstance(responses, list | tuple) else [responses]
        for item in items:
            waiting = self.tools.pop(gemini.get(item, "id"), None)
            if waiting is not None:
                name, arguments, asked = waiting
                run = self.group.tool(name, gemini.get(item, "id"), arguments, asked)
                run.end(gemini.get(item, "response"))

    def failed(self, error: BaseException) -> None:
        self.error_type = type(error).__qualname__

    def close(self) -> None:
        if self.group.ended:
            return
        call = self.call
        if call is not None:
            self.call = self.stamp = None
            call.fail("session_closed")
            self.group.add(call.record)
        self.group.end(self.error_type)


_sessions: weakref.WeakKeyDictionary[Any, LiveSession] = weakref.WeakKeyDictionary()


class _Connection(wrapt.ObjectProxy):
    """The SDK's async context manager, whose entered session we follow until it is left."""

    def __init__(self, manager: Any, telemetry: Telemetry, model: Any, provider: str) -> None:
        super().__init__(manager)
        self._self_telemetry = telemetry
        self._self_model = model if isinstance(model, str) else None
        self._self_session: Any = None

    async def __aenter__(self) -> Any:
        session = await self.__wrapped__.__aenter__()
        try:
            model = self._self_model
            if model is not None and model.startswith("models/"):
                model = model[len("models/") :]
            api_client = getattr(session, "_api_client", None)
            provider = sc.PROVIDER_VERTEX_AI if getattr(api_client, "vertexai", False) else sc.PROVIDER_GEMINI
            state = _sessions[session] = LiveSession(self._self_telemetry, model, provider)
            weakref.finalize(session, state.close)
            self._self_session = session
        except Exception:
            internal_error("opening a live session span")
        return session

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc)
        finally:
            _close(self._self_session)


def _close(session: Any) -> None:
    state = _sessions.pop(session, None) if session is not None else None
    if state is not None:
        try:
            state.close()
        except Exception:
            internal_error("closing a live session span")


def connect_hook(telemetry: Telemetry) -> Any:
    def connect(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            return _Connection(manager, telemetry, kwargs.get("model"), sc.PROVIDER_GEMINI)
        except Exception:
            internal_error("following a live session")
            return manager

    return connect


async def receive_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        message = await wrapped(*args, **kwargs)
    except Exception as error:
        state = _sessions.get(instance)
        if state is not None:
            state.failed(error)
        raise
    state = _sessions.get(instance)
    if state is not None:
        try:
            state.received(message)
        except Exception:
            internal_error("reading a live message")
    return message


async def tool_response_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = await wrapped(*args, **kwargs)
    state = _sessions.get(instance)
    if state is not None and state.tools:
        try:
            state.answered(kwargs.get("function_responses"))
        except Exception:
            internal_error("reading a live tool response")
    return result


async def close_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _close(instance)
