"""A loopback websocket stand-in for the OpenAI Realtime API (GA event names), in-process on port 0.

On connect it sends ``session.created`` for the model in the URL. Each ``response.create`` it receives is
answered with ``response.created``, ``deltas`` audio deltas and one transcript delta, and ``response.done``
whose usage is ``USAGE`` (120 input tokens, 20 of them audio; 40 output, 10 audio). When the app asked for a
tool (``tool_call`` set), the first response is a function call instead, and the next response follows the
app's ``function_call_output``. ``error_after`` sends an ``error`` event after that many responses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve

USAGE = {
    "total_tokens": 160,
    "input_tokens": 120,
    "output_tokens": 40,
    "input_token_details": {
        "text_tokens": 100,
        "audio_tokens": 20,
        "image_tokens": 0,
        "cached_tokens": 0,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 30, "audio_tokens": 10},
}


@dataclass
class RealtimeServer:
    url: str = ""
    deltas: int = 5
    tool_call: str | None = None
    error_after: int | None = None
    script: list[dict[str, Any]] | None = None  # sent as they are for the first response.create instead
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)


def _response(index: int, status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
    return {
        "object": "realtime.response",
        "id": f"resp_{index}",
        "status": status,
        "status_details": None,
        "output": output,
        "usage": usage,
        "conversation_id": "conv_1",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "metadata": None,
    }


@contextmanager
def serve_realtime() -> Iterator[RealtimeServer]:
    state = RealtimeServer()
    counter = iter(range(1, 1_000_000))

    def handler(ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        model = query.get("model", ["gpt-realtime"])[0]
        responses = 0

        def send(event: dict[str, Any]) -> None:
            event.setdefault("event_id", f"event_{next(counter)}")
            text = json.dumps(event)
            state.sent.append(text)
            ws.send(text)

        send({"type": "session.created", "session": {"type": "realtime", "object": "realtime.session",
                                                     "id": "sess_1", "model": model}})  # fmt: skip
        for message in ws:
            event = json.loads(message)
            state.received.append(event)
            if event.get("type") != "response.create":
                continue
            responses += 1
            index = responses
            if state.script is not None and index == 1:
                for scripted in state.script:
                    send(dict(scripted))
                continue
            send({"type": "response.created", "response": _response(index, "in_progress", [], None)})
            if state.tool_call is not None and index == 1:
                item = {
                    "type": "function_call", "id": "item_call", "object": "realtime.item", "status": "completed",
                    "name": state.tool_call, "call_id": "call_weather_1", "arguments": '{"city": "Paris"}',
                }  # fmt: skip
                send({"type": "response.function_call_arguments.done", "response_id": f"resp_{index}",
                      "item_id": "item_call", "output_index": 0, "call_id": "call_weather_1",
                      "name": state.tool_call, "arguments": item["arguments"]})  # fmt: skip
                send({"type": "response.done", "response": _response(index, "completed", [item], USAGE)})
                continue
            for _ in range(state.deltas):
                send({"type": "response.output_audio.delta", "response_id": f"resp_{index}", "item_id": "item_1",
                      "output_index": 0, "content_index": 0, "delta": "AAAA"})  # fmt: skip
            send({"type": "response.output_audio_transcript.delta", "response_id": f"resp_{index}",
                  "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": "hello"})  # fmt: skip
            message_item = {
                "type": "message", "id": "item_1", "object": "realtime.item", "status": "completed",
                "role": "assistant", "content": [{"type": "output_audio", "transcript": "hello"}],
            }  # fmt: skip
            send({"type": "response.done", "response": _response(index, "completed", [message_item], USAGE)})
            if state.error_after is not None and responses == state.error_after:
                send({"type": "error", "error": {"type": "invalid_request_error", "code": "unknown_parameter",
                                                 "message": "bad", "param": None, "event_id": None}})  # fmt: skip

    server = serve(handler, "127.0.0.1", 0)
    state.url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
