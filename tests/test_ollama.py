"""Ollama through the real ``ollama`` client, talking real HTTP to a local stand-in server on 127.0.0.1.

No recorded Ollama traffic is shared and no model can be downloaded here, so the stand-in answers with bodies
built from Ollama's documented wire format (https://github.com/ollama/ollama/blob/main/docs/api.md:
``/api/chat`` and ``/api/generate`` stream NDJSON parts, the last one ``done: true`` with ``done_reason``,
``prompt_eval_count`` and ``eval_count``; ``stream: false`` returns that last part with the whole text;
``/api/embed`` returns ``embeddings`` and ``prompt_eval_count``).
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import ollama
import pytest

from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.ollama import OllamaInstrumentor

from .wire_format import loaded_pricer

MODEL = "llama3.2"
FINAL = {
    "done": True,
    "done_reason": "stop",
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 342546000,
    "eval_count": 3,
    "eval_duration": 4535599000,
}
WORDS = ["The", " sky", " is blue."]


def _parts(path: str) -> list[dict[str, Any]]:
    base = {"model": MODEL, "created_at": "2023-08-04T19:22:45.499127Z"}
    if path == "/api/chat":
        parts = [{**base, "message": {"role": "assistant", "content": w}, "done": False} for w in WORDS]
        return parts + [{**base, "message": {"role": "assistant", "content": ""}, **FINAL}]
    parts = [{**base, "response": w, "done": False} for w in WORDS]
    return parts + [{**base, "response": "", "context": [1, 2, 3], **FINAL}]


class _Ollama(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes, as a stream does
    requests: list[tuple[str, dict[str, Any]]]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.requests.append((self.path, body))
        if body.get("model") == "missing":
            self._send(404, {"error": "model 'missing' not found"})
        elif self.path == "/api/embed":
            self._send(
                200, {"model": MODEL, "embeddings": [[0.01, -0.02]], "total_duration": 14143917, "prompt_eval_count": 8}
            )
        elif body.get("stream", True):
            self.send_response(200)
            self.send_header("content-type", "application/x-ndjson")
            self.end_headers()
            try:
                for part in _parts(self.path):
                    self.wfile.write(json.dumps(part).encode() + b"\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client left the stream early, as some tests do
        else:
            *pieces, last = _parts(self.path)
            text = "".join(WORDS)
            if self.path == "/api/chat":
                last["message"]["content"] = text
            else:
                last["response"] = text
            self._send(200, last)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    requests: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (_Ollama,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def instrumented(otel):
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer()))
    yield otel
    instrumentor.uninstrument()


MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def test_chat(instrumented, server):
    url, requests = server
    port = int(url.rsplit(":", 1)[1])
    response = ollama.Client(host=url).chat(
        MODEL, MESSAGES, options={"temperature": 0.1, "num_predict": 50, "seed": 42, "stop": ["\n"]}
    )
    assert response.message.content == "The sky is blue."
    assert requests[-1][1]["options"]["num_predict"] == 50
    span = instrumented.only_span()
    assert span.name == f"chat {MODEL}"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "ollama"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == port
    assert attrs["gen_ai.request.temperature"] == 0.1
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.seed"] == 42
    assert attrs["gen_ai.request.stop_sequences"] == ("\n",)
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 26
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert "gen_ai.response.id" not in attrs  # Ollama has none
    # A local model has no list price: no cost attribute (never 0), and the call is counted as unpriced.
    assert "gen_ai.usage.cost" not in attrs
    (unpriced,) = instrumented.metric_points("agentmetrics.calls.unpriced")
    assert unpriced.value == 1
    assert dict(unpriced.attributes) == {"gen_ai.provider.name": "ollama", "gen_ai.request.model": MODEL}


def test_chat_stream(instrumented, server):
    url, _ = server
    stream = ollama.Client(host=url).chat(model=MODEL, messages=MESSAGES, stream=True)
    assert "".join(part.message.content for part in stream) == "The sky is blue."
    attrs = instrumented.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 26
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    (gaps,) = instrumented.metric_points("gen_ai.client.operation.time_per_output_chunk")
    assert gaps.count == 3


def test_generate(instrumented, server):
    url, _ = server
    response = ollama.Client(host=url).generate(MODEL, "Why is the sky blue?")
    assert response.response == "The sky is blue."
    span = instrumented.only_span()
    assert span.name == f"text_completion {MODEL}"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.usage.output_tokens"] == 3


async def test_async_stream_break_and_embed(instrumented, server):
    url, _ = server
    client = ollama.AsyncClient(host=url)
    stream = await client.generate(model=MODEL, prompt="Why is the sky blue?", stream=True)
    async for _part in stream:
        break
    await stream.aclose()
    response = await client.embed(model="all-minilm", input="The sky is blue because of Rayleigh scattering")
    assert response.embeddings == [[0.01, -0.02]]
    streamed, embedded = instrumented.finished()
    assert streamed.attributes["gen_ai.request.stream"] is True
    assert "gen_ai.usage.output_tokens" not in streamed.attributes  # left before the last part
    assert embedded.name == "embeddings all-minilm"
    assert embedded.attributes["gen_ai.usage.input_tokens"] == 8
    assert "gen_ai.usage.output_tokens" not in embedded.attributes


def test_abandoned_stream_ends_once(instrumented, server):
    url, _ = server
    stream = ollama.Client(host=url).chat(model=MODEL, messages=MESSAGES, stream=True)
    next(stream)
    del stream
    gc.collect()
    assert len(instrumented.finished()) == 1


def test_unknown_model_error(instrumented, server):
    url, _ = server
    with pytest.raises(ollama.ResponseError):
        ollama.Client(host=url).chat(model="missing", messages=MESSAGES)
    span = instrumented.only_span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ResponseError"


def test_content_with_the_switch(otel, server):
    url, _ = server
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True))
    try:
        list(ollama.Client(host=url).chat(model=MODEL, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    attrs = otel.only_span().attributes
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Why is the sky blue?"}]}
    ]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "The sky is blue."}], "finish_reason": "stop"}
    ]


def test_module_functions_rebound_and_restored(otel):
    original = ollama.chat
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(otel.tracer_provider, otel.meter_provider))
    try:
        assert type(ollama.chat).__name__ == "BoundFunctionWrapper"
    finally:
        instrumentor.uninstrument()
    assert ollama.chat == original
    assert type(ollama.chat).__name__ == "method"
