"""Realtime: ``client.realtime.connect()`` (sync and async), a websocket session of many model responses.

The session is one ``realtime <model>`` span (INTERNAL: not a model call itself), opened when the connection is
entered and ended when it is closed (``close()``, leaving the ``with`` block, or the connection being dropped or
the program exiting with it open). Each model response is one ``chat <model>`` span under it, from
``response.created`` to ``response.done``, whose ``usage`` (text, audio and cached tokens) it carries and is
priced by, audio at the audio rates. The first audio or text delta of a response is its time to first chunk.
A function call the model makes is an ``execute_tool`` span from the ``response.done`` that asked for it to the
``function_call_output`` the app sends back (a call the app never answers gets no span). An ``error`` event marks
the session span (``error.type``, and the count in ``agentmetrics.realtime.errors``); a response that ends
``failed`` is a failed call.

What we read: the events ``recv()`` returns (also what iterating the connection and ``dispatch_events`` get) and
the events ``send()`` sends. The events themselves are handed on untouched. An app that reads raw frames with
``recv_bytes()`` and parses them itself is not seen. Per event the cost is a type lookup; per delta an append.
"""

from __future__ import annotations

import json
import time
import weakref
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._groups import CallGroup, chunk_stamp
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics.record import CallRecord
from otel_agentmetrics.tools import ToolRun

from ._endpoint import endpoint_of

REALTIME_ERRORS = "agentmetrics.realtime.errors"
_DELTAS = frozenset(
    {
        "response.output_audio.delta",
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "response.audio.delta",  # the beta API's names
        "response.text.delta",
        "response.audio_transcript.delta",
    }
)


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class Session:
    """One realtime connection's span, its response in flight and the tool calls waiting for an answer."""

    def __init__(self, telemetry: Telemetry, client: Any, model: str | None) -> None:
        self.telemetry = telemetry
        self.provider, self.address, self.port = endpoint_of(client) if client is not None else ("openai", None, None)
        self.model = model
        attrs: dict[str, Any] = {sc.CUSTOM_OPERATION_NAME: sc.OP_REALTIME, sc.PROVIDER_NAME: self.provider}
        if model:
            attrs[sc.REQUEST_MODEL] = model
        if self.address:
            attrs[sc.SERVER_ADDRESS] = self.address
        self.group = CallGroup(
            telemetry,
            f"{sc.OP_REALTIME} {model}" if model else sc.OP_REALTIME,
            attrs,
            (sc.REALTIME_RESPONSES, "agentmetrics.realtime.failed_responses"),
        )
        self.call: Call | None = None
        self.stamp: Any = None
        self.tools: dict[str, tuple[str, Any, int]] = {}
        self.errors = 0
        self.error_type: str | None = None
        self.session_id: str | None = None

    # Received events ---------------------------------------------------------------------------------------

    def received(self, event: Any) -> None:
        kind = _get(event, "type")
        if kind in _DELTAS:
            if self.stamp is not None:
                self.stamp(time.perf_counter())
            return
        handler = _RECEIVED.get(kind)
        if handler is not None:
            handler(self, event)

    def _session(self, event: Any) -> None:
        session = _get(event, "session")
        model = _get(session, "model")
        if isinstance(model, str) and model and self.model is None:
            self.model = model
            self.group.span.update_name(f"{sc.OP_REALTIME} {model}")
            self.group.span.set_attribute(sc.REQUEST_MODEL, model)
        session_id = _get(session, "id")
        if isinstance(session_id, str) and self.session_id is None:
            self.session_id = session_id
            self.group.span.set_attribute(sc.REALTIME_SESSION_ID, session_id)

    def _created(self, event: Any) -> None:
        self._end_call("superseded")  # a response.done never came for the one before
        record = CallRecord(
            sc.OP_CHAT,
            self.provider,
            request_model=self.model,
            server_address=self.address,
            server_port=self.port,
            stream=True,
        )
        if self.session_id is not None:
            record.conversation_id = self.session_id
        response_id = _get(_get(event, "response"), "id")
        if isinstance(response_id, str):
            record.response_id = response_id
        self.call = self.group.start(record)
        self.stamp = chunk_stamp(self.call)

    def _done(self, event: Any) -> None:
        response = _get(event, "response")
        call = self.call
        if call is None:  # a response.done without its response.created (connected mid-response)
            self._created(event)
            call = self.call
        assert call is not None
        record = call.record
        _read_response(record, response)
        status = _get(response, "status")
        self.call = self.stamp = None
        if status == "failed":
            error = _get(_get(_get(response, "status_details"), "error"), "type")
            call.fail(error if isinstance(error, str) and error else "failed")
        else:
            call.end()
        self.group.add(record)
        asked = time.time_ns()  # the tool runs from the answer that asked for it to the app's output
        for item in _get(response, "output") or ():
            if _get(item, "type") == "function_call":
                call_id, name = _get(item, "call_id"), _get(item, "name")
                if isinstance(call_id, str) and isinstance(name, str):
                    self.tools[call_id] = (name, _get(item, "arguments"), asked)

    def _error(self, event: Any) -> None:
        self.errors += 1
        error = _get(event, "error")
        kind = _get(error, "code") or _get(error, "type")
        self.error_type = kind if isinstance(kind, str) and kind else "error"

    # Sent events -------------------------------------------------------------------------------------------

    def sent(self, event: Any) -> None:
        if not self.tools or _get(event, "type") != "conversation.item.create":
            return
        item = _get(event, "item")
        if _get(item, "type") != "function_call_output":
            return
        waiting = self.tools.pop(_get(item, "call_id"), None)
        if waiting is None:
            return
        name, arguments, asked = waiting
        arguments = _json(arguments)
        run: ToolRun = self.group.tool(name, _get(item, "call_id"), arguments, asked)
        run.end(_get(item, "output"))

    # Closing -----------------------------------------------------------------------------------------------

    def _end_call(self, error: str) -> None:
        call = self.call
        if call is not None:
            self.call = self.stamp = None
            call.fail(error)
            self.group.add(call.record)

    def close(self) -> None:
        if self.group.ended:
            return
        self._end_call("session_closed")
        attrs = {REALTIME_ERRORS: self.errors} if self.errors else None
        self.group.end(self.error_type, attrs)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _read_response(record: CallRecord, response: Any) -> None:
    usage = _get(response, "usage")
    if usage is not None:
        record.input_tokens = _get(usage, "input_tokens")
        record.output_tokens = _get(usage, "output_tokens")
        details: dict[str, int | float] = {}
        inputs = _get(usage, "input_token_details")
        if inputs is not None:
            cached = _get(inputs, "cached_tokens")
            if cached:
                record.cache_read_input_tokens = cached
            for key, name in (("audio_tokens", "input_audio_tokens"), ("image_tokens", "input_image_tokens")):
                value = _get(inputs, key)
                if value:
                    details[name] = value
            if cached:  # the cached part by modality, zeros included: genai-prices splits the cache read by them
                cached_details = _get(inputs, "cached_tokens_details")
                for key, name, within in (
                    ("audio_tokens", "cache_audio_read_tokens", "input_audio_tokens"),
                    ("image_tokens", "cache_image_read_tokens", "input_image_tokens"),
                ):
                    value = _get(cached_details, key)
                    if value is not None and (value or within in details):
                        details[name] = value
        audio_out = _get(_get(usage, "output_token_details"), "audio_tokens")
        if audio_out:
            details["output_audio_tokens"] = audio_out
        record.usage_details = details or None
    status = _get(response, "status")
    if isinstance(status, str):
        record.finish_reasons = [status]
    output = _get(response, "output") or ()
    ids = [_get(item, "call_id") for item in output if _get(item, "type") == "function_call"]
    record.tool_call_ids = [i for i in ids if isinstance(i, str)] or None


_RECEIVED = {
    "session.created": Session._session,
    "session.updated": Session._session,
    "response.created": Session._created,
    "response.done": Session._done,
    "error": Session._error,
}

_sessions: weakref.WeakKeyDictionary[Any, Session] = weakref.WeakKeyDictionary()


def _manager_model(manager: Any) -> str | None:
    for cls in type(manager).__mro__:
        model = manager.__dict__.get(f"_{cls.__name__}__model")
        if isinstance(model, str) and model:
            return model
    return None


def _open(telemetry: Telemetry, manager: Any, connection: Any) -> None:
    try:
        if connection in _sessions:
            return
        client = next(
            (v for k, v in vars(manager).items() if k.endswith("__client")), None
        )  # the manager keeps its client private
        session = _sessions[connection] = Session(telemetry, client, _manager_model(manager))
        weakref.finalize(connection, session.close)  # dropped or left open at exit: the span still ends
    except Exception:
        internal_error("opening a realtime session span")


def enter_hook(telemetry: Telemetry) -> Any:
    def enter(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        connection = wrapped(*args, **kwargs)
        _open(telemetry, instance, connection)
        return connection

    return enter


def async_enter_hook(telemetry: Telemetry) -> Any:
    async def enter(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        connection = await wrapped(*args, **kwargs)
        _open(telemetry, instance, connection)
        return connection

    return enter


def _received(connection: Any, event: Any) -> None:
    session = _sessions.get(connection)
    if session is not None:
        try:
            session.received(event)
        except Exception:
            internal_error("reading a realtime event")


def recv_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    event = wrapped(*args, **kwargs)
    _received(instance, event)
    return event


async def async_recv_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    event = await wrapped(*args, **kwargs)
    _received(instance, event)
    return event


def _sent(connection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    session = _sessions.get(connection)
    if session is not None and session.tools:
        try:
            session.sent(args[0] if args else kwargs.get("event"))
        except Exception:
            internal_error("reading a realtime event sent")


def send_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    _sent(instance, args, kwargs)
    return result


async def async_send_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = await wrapped(*args, **kwargs)
    _sent(instance, args, kwargs)
    return result


def _closed(connection: Any) -> None:
    session = _sessions.pop(connection, None)
    if session is not None:
        try:
            session.close()
        except Exception:
            internal_error("closing a realtime session span")


def close_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        _closed(instance)


async def async_close_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _closed(instance)
