"""Secrets and prompts that an error quotes never reach what we record (issue 14, defect 4).

A real ``openai`` client talks to a loopback server that answers like a self-hosted OpenAI-compatible one: a 401
whose body echoes the API key, a 400 that repeats the prompt, a stream that breaks with an error quoting it. A real
``boto3`` client fails to connect to an endpoint URL with ``user:pass@`` and ``?token=``. Every output is scanned:
in-memory spans (status, events, attributes), the OTLP bytes a real receiver got, metric labels and the local
store's files. The same calls with ``raw_errors=True`` show the scan finds the secrets when they are there.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agentmetrics._config import resolve
from otel_agentmetrics._redact import mask_credentials, remove_content, request_strings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.bedrock import BedrockInstrumentor
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.summary.exporter import LocalStoreSpanExporter

from .otlp_receiver import Received, http_receiver

API_KEY = "sk-proj-Zq8VtL3mN0pR7sW2xY5a"
PROMPT = "Summarise Project Nightingale's launch plan:\nbudget – 4.2M, partners 'Kestrel' & \"Osprey\""
SECRETS = ("Zq8VtL3mN0pR7sW2xY5a", "Nightingale", "Kestrel", "hunter2pass", "tok-SECRET-123", "AKIAQX7EXAMPLE4KEY9Z")


class Outputs:
    """Everything one setup records: in memory, over OTLP to a real receiver, and in a store file."""

    def __init__(self, otlp_url: str, received: Received, store: Path) -> None:
        self.received = received
        self.store = store
        self.spans = InMemorySpanExporter()
        self.store_exporter = LocalStoreSpanExporter(store)
        self.tracer_provider = TracerProvider()
        for exporter in (self.spans, OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces"), self.store_exporter):
            self.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.reader = InMemoryMetricReader()
        self.otlp_metrics = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{otlp_url}/v1/metrics"), export_interval_millis=600_000
        )
        self.meter_provider = MeterProvider(metric_readers=[self.reader, self.otlp_metrics])

    def telemetry(self, **options: Any) -> Telemetry:
        return Telemetry(self.tracer_provider, self.meter_provider, **options)

    def texts(self) -> dict[str, str]:
        """Every recorded output as text, by where it came from."""
        metric_labels = []
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    metric_labels.extend(repr(dict(point.attributes or {})) for point in metric.data.data_points)
        self.otlp_metrics.force_flush()
        self.tracer_provider.shutdown()  # closes the store: its WAL is folded into the file
        otlp = b"".join(m.SerializeToString() for m in (*self.received.trace_requests, *self.received.metric_requests))
        spans = self.spans.get_finished_spans()
        return {
            "span status": "\n".join(str(span.status.description) for span in spans),
            "span events": "\n".join(repr(dict(event.attributes or {})) for span in spans for event in span.events),
            "span attributes": "\n".join(repr(dict(span.attributes or {})) for span in spans),
            "otlp bytes": otlp.decode("utf-8", "replace"),
            "metric labels": "\n".join(metric_labels),
            "store file": b"".join(p.read_bytes() for p in self.store.parent.glob(self.store.name + "*")).decode(
                "utf-8", "replace"
            ),
        }

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def outputs(tmp_path: Path) -> Iterator[Outputs]:
    with http_receiver() as (url, received):
        recorded = Outputs(url, received, tmp_path / "spans.sqlite3")
        try:
            yield recorded
        finally:
            recorded.close()


@contextmanager
def echoing_server() -> Iterator[str]:
    """A loopback OpenAI-compatible server that quotes what it was sent in its errors, as some self-hosted do:
    ``/v1/chat/completions`` answers 401 (echoing the key) for model ``locked``, 400 (echoing the prompt, once
    whole and once cut short) for ``tiny``, and a stream that breaks with an error quoting the prompt for
    ``flaky``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            prompt = request["messages"][-1]["content"]
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            if request["model"] == "locked":
                self._send(401, {"error": {"message": f"Invalid API key: {key}", "type": "auth_error"}})
            elif request["model"] == "tiny":
                message = f"prompt too long for context: {prompt!r} (starts {prompt[:30]}...)"
                self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
            else:
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "flaky",
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Sure"}}],
                }
                error = {"error": {"message": f"generation failed on input {json.dumps(prompt)}"}}
                body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode()
                self._reply(200, "text/event-stream", body)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            self._reply(status, "application/json", json.dumps(payload).encode())

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failing_calls(telemetry: Telemetry) -> list[str]:
    """Three failing OpenAI calls and one failing Bedrock call, instrumented; the messages the user saw."""
    openai_instrumentor, bedrock_instrumentor = OpenAIInstrumentor(), BedrockInstrumentor()
    openai_instrumentor.instrument(telemetry=telemetry, settings=resolve())
    bedrock_instrumentor.instrument(telemetry=telemetry, settings=resolve())
    seen: list[str] = []
    try:
        with echoing_server() as base_url:
            client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
            messages = [{"role": "user", "content": PROMPT}]
            for model in ("locked", "tiny"):
                with pytest.raises(openai.APIStatusError) as raised:
                    client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
                seen.append(str(raised.value))
            stream = client.chat.completions.create(model="flaky", messages=messages, stream=True)  # type: ignore[arg-type]
            with pytest.raises(openai.APIError) as raised:
                list(stream)
            seen.append(str(raised.value))
        bedrock = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=f"http://user:hunter2pass@127.0.0.1:{closed_port()}/?token=tok-SECRET-123",
            aws_access_key_id="AKIAQX7EXAMPLE4KEY9Z",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2),
        )
        with pytest.raises(botocore.exceptions.EndpointConnectionError) as failed:
            bedrock.converse(
                modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": PROMPT}]}]
            )
        seen.append(str(failed.value))
    finally:
        openai_instrumentor.uninstrument()
        bedrock_instrumentor.uninstrument()
    return seen


def test_no_secret_or_prompt_in_any_output(outputs: Outputs) -> None:
    seen = failing_calls(outputs.telemetry())

    # The user's exceptions are untouched: they still quote everything.
    assert API_KEY in seen[0] and "Nightingale" in seen[1] and "Nightingale" in seen[2]
    assert "hunter2pass" in seen[3] and "tok-SECRET-123" in seen[3]

    spans = outputs.spans.get_finished_spans()
    assert [span.name for span in spans] == ["chat locked", "chat tiny", "chat flaky", "chat amazon.nova-micro-v1:0"]
    statuses = [span.status.description for span in spans]
    assert statuses[0] == "Error code: 401 - Invalid API key: [REDACTED]"
    assert statuses[1] == (
        "Error code: 400 - prompt too long for context: '[REDACTED CONTENT]' (starts [REDACTED CONTENT]...)"
    )
    assert statuses[2] == 'generation failed on input "[REDACTED CONTENT]"'
    port = str(statuses[3]).split("127.0.0.1:")[1].split("/")[0]
    assert statuses[3] == (
        f'Could not connect to the endpoint URL: "http://[REDACTED]@127.0.0.1:{port}'
        '/model/amazon.nova-micro-v1%3A0/converse?token=[REDACTED]"'
    )
    for span in spans:
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes is not None
        assert event.attributes["exception.message"] == span.status.description
        assert "Traceback" in str(event.attributes["exception.stacktrace"])
    assert [span.attributes["error.type"] for span in spans if span.attributes] == [
        "AuthenticationError",
        "BadRequestError",
        "APIError",
        "EndpointConnectionError",
    ]

    texts = outputs.texts()
    assert "Invalid API key: [REDACTED]" in texts["otlp bytes"]
    assert "Invalid API key: [REDACTED]" in texts["store file"]
    assert "gen_ai.client.operation.duration" in texts["otlp bytes"]
    leaks = {(where, secret) for where, text in texts.items() for secret in SECRETS if secret in text}
    assert leaks == set()


def test_raw_errors_records_messages_as_raised(outputs: Outputs) -> None:
    """The switch for a trusted collector; also proves the scan above finds a secret that is there."""
    failing_calls(outputs.telemetry(raw_errors=True))
    texts = outputs.texts()
    for where in ("span status", "span events", "otlp bytes"):
        assert all(secret in texts[where] for secret in SECRETS[:5]), where
    assert "Nightingale" in texts["store file"]
    assert API_KEY not in texts["store file"]  # the store masks credentials on its own, whatever the spans carry


def test_content_capture_on_keeps_the_prompt_but_not_the_key(outputs: Outputs) -> None:
    failing_calls(outputs.telemetry(capture_content=True))
    statuses = [span.status.description or "" for span in outputs.spans.get_finished_spans()]
    assert "Nightingale" in statuses[1]  # content is recorded anyway when capture is on
    assert API_KEY not in statuses[0] and "[REDACTED]" in statuses[0]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("key sk-ant-api03-AbCdEf012345_xyz end", "key [REDACTED] end"),
        ("Authorization: Bearer abc.def.ghi12345", "Authorization: [REDACTED]"),
        ("{'x-api-key': 'k-123456'}", "{'x-api-key': '[REDACTED]'}"),
        ("token is Bearer abcdefgh12345678", "token is Bearer [REDACTED]"),
        ("https://u:p@h/x?a=1&api_key=zz&sig=s1#f", "https://[REDACTED]@h/x?a=1&api_key=[REDACTED]&sig=[REDACTED]#f"),
        ("wss://ghp_abcdefghijklmnopqrstu@host", "wss://[REDACTED]@host"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key=[REDACTED]"),
        ("id AKIAIOSFODNN7EXAMPLE used", "id [REDACTED] used"),
        ("key=AIzaSyA-abcdefghijklmnopqrstuvwxyz0123", "key=[REDACTED]"),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.sig-part", "jwt [REDACTED]"),
        (
            "model gpt-4o-mini not found at https://api.openai.com/v1",
            "model gpt-4o-mini not found at https://api.openai.com/v1",
        ),
    ],
)
def test_credential_shapes(text: str, masked: str) -> None:
    assert mask_credentials(text) == masked


def test_request_strings_skip_names_and_read_json_bodies() -> None:
    strings = request_strings(
        ("InvokeModel", {"modelId": "anthropic.claude-3", "body": json.dumps({"prompt": "tell me a secret"})}),
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "hi there"}]},
    )
    assert "InvokeModel" not in strings and "gpt-4o" not in strings and "anthropic.claude-3" not in strings
    assert "tell me a secret" in strings and "hi there" in strings and "hi" not in strings
    assert remove_content("bad: 'tell me a secret'", strings) == "bad: '[REDACTED CONTENT]'"


# Issue 26: keys of no known shape. The client holds the exact values it sends; they are masked wherever an error
# quotes them, besides the shapes above.
GATEWAY_KEY = "sk-1234"  # LiteLLM's documented proxy key
AZURE_KEY = "0123456789abcdef0123456789abcdef"  # 32 hex characters
HEADER_KEY = "gw-Yq7Pz2Lk"  # a gateway's own header


@contextmanager
def key_echoing_server() -> Iterator[str]:
    """A loopback OpenAI-compatible server whose 401 quotes every credential header it got, as LiteLLM's proxy
    and vLLM's ``--api-key`` check do."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("content-length") or 0))
            quoted = ", ".join(
                f"{name} {self.headers[name].removeprefix('Bearer ')}"
                for name in ("authorization", "api-key", "x-gateway-key")
                if self.headers.get(name)
            )
            body = json.dumps({"error": {"message": f"Authentication Error, invalid credentials: {quoted}"}}).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_exact_client_credentials_are_masked_whatever_their_shape(outputs: Outputs) -> None:
    from otel_agentmetrics import _redact

    _redact.forget_credentials()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=outputs.telemetry(), settings=resolve())
    seen: list[str] = []
    try:
        with key_echoing_server() as base:
            clients = [
                openai.OpenAI(base_url=f"{base}/v1", api_key=GATEWAY_KEY, max_retries=0),
                openai.AzureOpenAI(azure_endpoint=base, api_key=AZURE_KEY, api_version="2024-10-21", max_retries=0),
                openai.OpenAI(
                    base_url=f"{base}/v1",
                    api_key="unused-by-gateway",
                    default_headers={"X-Gateway-Key": HEADER_KEY},
                    max_retries=0,
                ),
            ]
            for client in clients:
                with pytest.raises(openai.AuthenticationError) as raised:
                    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                seen.append(str(raised.value))
            stream_client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=GATEWAY_KEY + "-async", max_retries=0)

            async def streamed() -> None:
                stream = await stream_client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
                )
                async for _ in stream:
                    pass

            import asyncio

            with pytest.raises(openai.AuthenticationError) as raised:
                asyncio.run(streamed())
            seen.append(str(raised.value))
    finally:
        instrumentor.uninstrument()
        _redact.forget_credentials()
    # The user's exceptions quote the keys, untouched.
    assert GATEWAY_KEY in seen[0] and AZURE_KEY in seen[1] and HEADER_KEY in seen[2]
    statuses = [span.status.description for span in outputs.spans.get_finished_spans()]
    assert statuses[0] == "Error code: 401 - Authentication Error, invalid credentials: authorization [REDACTED]"
    assert statuses[1] == "Error code: 401 - Authentication Error, invalid credentials: api-key [REDACTED]"
    assert "x-gateway-key [REDACTED]" in str(statuses[2])
    assert "authorization [REDACTED]" in str(statuses[3])
    texts = outputs.texts()
    leaks = {
        (where, key) for where, text in texts.items() for key in (GATEWAY_KEY, AZURE_KEY, HEADER_KEY) if key in text
    }
    assert leaks == set()


def test_credential_objects_of_aws_and_google_clients_are_read() -> None:
    """The walk finds what botocore's signer and google-genai's API client hold, and nothing that is not secret."""
    from google import genai
    from google.oauth2.credentials import Credentials

    from otel_agentmetrics import _redact

    _redact.forget_credentials()
    try:
        bedrock = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            aws_access_key_id="AKIDSHORT1",
            aws_secret_access_key="s3cr3t-of-no-shape",
            aws_session_token="session-tok-42",
        )
        _redact.remember_credentials(bedrock)
        gemini = genai.Client(api_key="gm-key-777")
        _redact.remember_credentials(gemini.models)
        vertex = genai.Client(
            vertexai=True, project="p", location="us-central1", credentials=Credentials(token="ya29.tiny")
        )
        _redact.remember_credentials(vertex.models)
        text = "echo AKIDSHORT1 s3cr3t-of-no-shape session-tok-42 gm-key-777 ya29.tiny us-east-1 bedrock"
        assert mask_credentials(text) == "echo " + " ".join(["[REDACTED]"] * 5) + " us-east-1 bedrock"
    finally:
        _redact.forget_credentials()
    assert mask_credentials("echo s3cr3t-of-no-shape") == "echo s3cr3t-of-no-shape"  # forgotten
