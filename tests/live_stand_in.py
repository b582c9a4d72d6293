"""A loopback TLS websocket stand-in for Gemini Live (``BidiGenerateContent``), in-process on port 0.

The client insists on ``wss://`` when it has an API key, so the server has a throwaway self-signed certificate
(made with ``cryptography``) and the client trusts it through ``HttpOptions(async_client_args={"ssl": ...})``.
Each ``clientContent`` turn is answered with two model-turn messages and a ``turnComplete`` carrying
``USAGE`` (120 prompt tokens, 20 of them audio; 40 response tokens, 10 audio); with ``tool_call`` set, the first
turn is a ``toolCall`` instead, and the ``toolResponse`` gets a normal turn.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.server import ServerConnection, serve

USAGE = {
    "promptTokenCount": 120, "responseTokenCount": 40, "totalTokenCount": 160,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}, {"modality": "AUDIO", "tokenCount": 20}],
    "responseTokensDetails": [{"modality": "TEXT", "tokenCount": 30}, {"modality": "AUDIO", "tokenCount": 10}],
}  # fmt: skip


@dataclass
class LiveServer:
    base_url: str = ""
    client_ssl: ssl.SSLContext | None = None
    tool_call: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)


def _certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def serve_live(directory: Path) -> Iterator[LiveServer]:
    state = LiveServer()
    cert, key = _certificate(directory)
    server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ssl.load_cert_chain(cert, key)
    state.client_ssl = ssl.create_default_context(cafile=str(cert))

    def answer(ws: ServerConnection) -> None:
        for text in ("Hello", " there"):
            ws.send(json.dumps({"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": text}]}}}))
        ws.send(json.dumps({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE}))

    def handler(ws: ServerConnection) -> None:
        state.received.append(json.loads(ws.recv()))  # the setup message
        ws.send(json.dumps({"setupComplete": {}}))
        turns = 0
        for message in ws:
            event = json.loads(message)
            state.received.append(event)
            if "clientContent" in event or "client_content" in event:  # the SDK sends either spelling
                turns += 1
                if state.tool_call is not None and turns == 1:
                    call = {"id": "fc_1", "name": state.tool_call, "args": {"city": "Paris"}}
                    ws.send(json.dumps({"toolCall": {"functionCalls": [call]}, "usageMetadata": USAGE}))
                    continue
                answer(ws)
            elif "toolResponse" in event or "tool_response" in event:
                answer(ws)

    server = serve(handler, "127.0.0.1", 0, ssl=server_ssl)
    state.base_url = f"https://127.0.0.1:{server.socket.getsockname()[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
