"""A loopback HTTP server that answers with the responses of a recorded cassette.

For tests that run a program in another process (``opentelemetry-instrument``, Prometheus scraping an app),
where an in-process transport cannot reach: the program's real client talks real HTTP to this server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .replay import Cassette

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@contextmanager
def serve_cassette(name: str) -> Iterator[str]:
    """Serve the cassette's interactions in order; yields the base URL (``http://127.0.0.1:PORT``)."""
    cassette = Cassette(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            interaction = cassette.match("POST", self.path)
            response = interaction["response"]
            body = response["body"]
            content = body.get("string", b"") if isinstance(body, dict) else body
            if isinstance(content, str):
                content = content.encode()
            self.send_response(response["status"]["code"])
            for key, value in (response.get("headers") or {}).items():
                if key.lower() in _HOP_BY_HOP:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    self.send_header(key, str(item))
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
