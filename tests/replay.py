"""Replays the recorded vcrpy cassettes in ``tests/cassettes/`` through the real client libraries.

The clients under test (openai, anthropic, ...) send real HTTP requests through an ``httpx``/``httpx2``
``MockTransport`` that answers each request with the next recorded interaction for the same method and path.
A request that no recording matches fails the test, as pytest-recording's ``none`` mode does. Nothing of the
client is replaced: serialisation, SSE parsing, retries' headers and response types are the library's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

CASSETTES = Path(__file__).parent / "cassettes"

_DROP_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}


class CassetteMismatch(AssertionError):
    pass


class Cassette:
    """The interactions of one cassette file, served in recorded order."""

    def __init__(self, name: str) -> None:
        path = CASSETTES / name
        if not path.suffix:
            path = path.with_suffix(".yaml")
        data = yaml.load(path.read_text(), Loader=yaml.Loader)  # cassettes hold !!binary bodies
        self.name = name
        self.interactions: list[dict[str, Any]] = list(data["interactions"])
        self.requests: list[Any] = []

    def match(self, method: str, url: str) -> dict[str, Any]:
        path = urlsplit(url).path
        for index, interaction in enumerate(self.interactions):
            recorded = interaction["request"]
            if recorded["method"].upper() == method.upper() and urlsplit(recorded["uri"]).path == path:
                return self.interactions.pop(index)
        raise CassetteMismatch(f"{self.name}: no recorded {method} {path} left")

    def recorded_json_body(self, index: int = 0) -> Any:
        """The request body the cassette was recorded with (for comparing what the client sent)."""
        with open(CASSETTES / self.name if self.name.endswith(".yaml") else CASSETTES / f"{self.name}.yaml") as f:
            data = yaml.load(f, Loader=yaml.Loader)
        return json.loads(data["interactions"][index]["request"]["body"])

    def handler(self, httpx_module: Any) -> Any:
        def handle(request: Any) -> Any:
            self.requests.append(request)
            interaction = self.match(request.method, str(request.url))
            response = interaction["response"]
            body = response["body"]
            content = body.get("string", b"") if isinstance(body, dict) else body
            if isinstance(content, str):
                content = content.encode()
            headers = []
            for key, value in (response.get("headers") or {}).items():
                if key.lower() in _DROP_HEADERS:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    headers.append((key, str(item)))
            return httpx_module.Response(response["status"]["code"], headers=headers, content=content, request=request)

        return handle

    def transport(self, httpx_module: Any) -> Any:
        return httpx_module.MockTransport(self.handler(httpx_module))


def http_module_of(client_module: Any) -> Any:
    """The httpx flavour a client library uses (openai/anthropic 3.x+/2.x+ use ``httpx2``; older ``httpx``)."""
    import importlib

    base = importlib.import_module(f"{client_module.__name__}._base_client")
    return getattr(base, "httpx2", None) or base.httpx
