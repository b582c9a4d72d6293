"""Replays recorded Bedrock cassettes through a real boto3 client.

botocore does not use httpx, so the cassette is served through botocore's own hook for this: a ``before-send``
event handler that returns an ``AWSResponse``. Everything else is the real client: parameter validation,
SigV4 signing, serialisation, the response parsers, modeled exceptions (``ValidationException``) and the
``EventStream`` decoder reading the recorded binary ``application/vnd.amazon.eventstream`` bodies.
"""

from __future__ import annotations

import io
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from .replay import Cassette

_DROP = {"content-length", "transfer-encoding", "content-encoding"}


class BedrockReplay:
    """A ``bedrock-runtime`` client answered from one cassette, in recorded order."""

    def __init__(self, name: str) -> None:
        self.cassette = Cassette(name)
        self.sent: list[Any] = []
        self.client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            aws_access_key_id="test_access_key",
            aws_secret_access_key="test_secret_key",
        )
        self.client.meta.events.register("before-send.bedrock-runtime", self._reply)

    def _reply(self, request: Any, **_: Any) -> AWSResponse:
        self.sent.append(request)
        response = self.cassette.match(request.method, request.url)["response"]
        body = response["body"]["string"]
        data = body.encode() if isinstance(body, str) else body
        headers = HTTPHeaderDict()
        for key, value in (response.get("headers") or {}).items():
            if key.lower() not in _DROP:
                for item in value if isinstance(value, list) else [value]:
                    headers.add(key, str(item))
        headers["Content-Length"] = str(len(data))
        status = response["status"]["code"]
        raw = HTTPResponse(body=io.BytesIO(data), headers=headers, status=status, preload_content=False)
        return AWSResponse(request.url, status, headers, raw)
