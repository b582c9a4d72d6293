"""A loopback stand-in for the OpenAI chat completions endpoint that answers any number of calls.

Scrape and export tests need a steady flow of calls from another process, so unlike ``recorded_server`` this
server does not use each recording once: every request gets a response recorded from the real API
(``tests/cassettes/openai``), chosen by the request: ``stream: true`` gets the recorded stream of ``gpt-4``,
model ``this-model-does-not-exist`` gets the recorded 404, ``gpt-4o-mini`` its recorded answer, and any other
model that same answer with its ``model`` field set to the requested one (a self-hosted model without a price,
as an OpenAI-compatible server would name it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .replay import Cassette

MISSING_MODEL = "this-model-does-not-exist"


@dataclass(frozen=True)
class Recorded:
    status: int
    content_type: str
    body: bytes


def _recorded(name: str) -> Recorded:
    response = Cassette(f"openai/{name}").interactions[0]["response"]
    body = response["body"]
    content = body.get("string", b"") if isinstance(body, dict) else body
    if isinstance(content, str):
        content = content.encode()
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    content_type = headers.get("content-type", ["application/json"])
    return Recorded(
        response["status"]["code"], content_type[0] if isinstance(content_type, list) else content_type, content
    )


@contextmanager
def serve_chat(delay: float = 0.0) -> Iterator[str]:
    """Yields the base URL to give the client (``http://127.0.0.1:PORT/v1``). ``delay`` seconds per answer."""
    answers = {
        "plain": _recorded("test_chat_completion_with_content"),
        "stream": _recorded("test_chat_completion_streaming"),
        "missing": _recorded("test_chat_completion_404"),
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            if request.get("stream"):
                answer = answers["stream"]
            elif request.get("model") == MISSING_MODEL:
                answer = answers["missing"]
            elif request.get("model") in (None, "gpt-4o-mini"):
                answer = answers["plain"]
            else:
                plain = answers["plain"]
                body = json.loads(plain.body)
                body["model"] = request["model"]
                answer = Recorded(plain.status, plain.content_type, json.dumps(body).encode())
            if delay:
                time.sleep(delay)
            self.send_response(answer.status)
            self.send_header("content-type", answer.content_type)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
