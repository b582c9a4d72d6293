"""An ASGI app for ``uvicorn --workers N``: each worker instruments itself at import and serves ``/metrics`` on a
port of its own (``prometheus="127.0.0.1:0"``), announced through ``AGENTMETRICS_PROMETHEUS_SD_DIR``. Every
request to ``/chat`` makes one model call with the real openai client to ``STAND_IN_URL``."""

from __future__ import annotations

import os
from typing import Any

import openai

import otel_agentmetrics

otel_agentmetrics.instrument(prometheus="127.0.0.1:0", store=False, service_name="worker-app")
client = openai.AsyncOpenAI(base_url=os.environ["STAND_IN_URL"], api_key="test_openai_api_key", max_retries=0)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/chat":
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
        )
        body = f"ok {os.getpid()}".encode()
    else:
        body = b"ready"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
