"""A loopback stand-in for the batch APIs: OpenAI's ``/v1/files`` and ``/v1/batches``, Anthropic's
``/v1/messages/batches``, in the documented wire formats (a real HTTP server on port 0, in-process).

A batch "runs" when it is created: each request line of the uploaded input file gets an answer whose usage the
test chose (``usage[custom_id] = (input, output)``; ``failures[custom_id] = code`` puts it in the error file
instead). Retrieving a batch answers ``in_progress`` first, then its final status (``final_status``, default
``completed``/``ended``), as a poll loop sees it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class BatchServer:
    base_url: str = ""
    usage: dict[str, tuple[int, int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    final_status: str = "completed"
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # OpenAI -------------------------------------------------------------------------------------------------

    def upload(self, content: bytes) -> dict[str, Any]:
        with self.lock:
            file_id = f"file-{uuid.uuid4().hex[:12]}"
            self.files[file_id] = content
        return {
            "id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
            "filename": "batch.jsonl", "purpose": "batch", "status": "processed",
        }  # fmt: skip

    def openai_answer(self, line: dict[str, Any], index: int) -> dict[str, Any]:
        custom_id, url, body = line["custom_id"], line["url"], line["body"]
        prompt, completion = self.usage.get(custom_id, (10, 5))
        model = body.get("model", "gpt-4o-mini")
        answered = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}.get(model, model)
        if url == "/v1/embeddings":
            answer: dict[str, Any] = {
                "object": "list", "model": answered,
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
            }  # fmt: skip
        elif url == "/v1/responses":
            answer = {
                "id": f"resp_{index}", "object": "response", "created_at": int(time.time()), "model": answered,
                "status": "completed", "output": [{
                    "type": "message", "id": f"msg_{index}", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok", "annotations": []}],
                }],
                "usage": {
                    "input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
                    "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0},
                },
            }  # fmt: skip
        else:
            answer = {
                "id": f"chatcmpl-{index}", "object": "chat.completion", "created": int(time.time()),
                "model": answered, "service_tier": "default", "system_fingerprint": "fp_batch",
                "choices": [{
                    "index": 0, "finish_reason": "stop", "logprobs": None,
                    "message": {"role": "assistant", "content": "ok", "refusal": None},
                }],
                "usage": {
                    "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
                },
            }  # fmt: skip
        return {
            "id": f"batch_req_{index}", "custom_id": custom_id, "error": None,
            "response": {"status_code": 200, "request_id": f"req_{index}", "body": answer},
        }  # fmt: skip

    def create_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        lines = [json.loads(x) for x in self.files[request["input_file_id"]].decode().splitlines() if x.strip()]
        out, errors = [], []
        for index, line in enumerate(lines):
            code = self.failures.get(line["custom_id"])
            if code is None:
                out.append(self.openai_answer(line, index))
            else:
                errors.append({
                    "id": f"batch_req_{index}", "custom_id": line["custom_id"], "response": {
                        "status_code": 400, "request_id": f"req_{index}",
                        "body": {"error": {"message": "bad request", "type": "invalid_request_error", "code": code}},
                    }, "error": None,
                })  # fmt: skip
        with self.lock:
            batch_id = f"batch_{uuid.uuid4().hex[:12]}"  # unique: the ledger is per process
            output_id = self.upload(b"".join(json.dumps(x).encode() + b"\n" for x in out))["id"] if out else None
            error_id = self.upload(b"".join(json.dumps(x).encode() + b"\n" for x in errors))["id"] if errors else None
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": request["endpoint"],
                "input_file_id": request["input_file_id"], "completion_window": request["completion_window"],
                "status": "validating", "created_at": int(time.time()),
                "request_counts": {"total": len(lines), "completed": len(out), "failed": len(errors)},
                "final": {"output_file_id": output_id, "error_file_id": error_id},
            }  # fmt: skip
        return self.openai_batch(batch_id, final=False)

    def openai_batch(self, batch_id: str, final: bool) -> dict[str, Any]:
        batch = {k: v for k, v in self.batches[batch_id].items() if k != "final"}
        if final:
            batch.update(self.batches[batch_id]["final"], status=self.final_status, completed_at=int(time.time()))
        elif batch["status"] != "validating":
            batch["status"] = "in_progress"
        return batch

    # Anthropic ----------------------------------------------------------------------------------------------

    def anthropic_create(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            batch_id = f"msgbatch_{uuid.uuid4().hex[:12]}"
            self.batches[batch_id] = {"requests": request["requests"]}
        return self.anthropic_batch(batch_id, ended=False)

    def anthropic_batch(self, batch_id: str, ended: bool) -> dict[str, Any]:
        requests = self.batches[batch_id]["requests"]
        failed = sum(1 for r in requests if r["custom_id"] in self.failures)
        now = "2026-12-07T12:00:00Z"
        return {
            "id": batch_id, "type": "message_batch", "created_at": now, "expires_at": "2026-12-08T12:00:00Z",
            "processing_status": "ended" if ended else "in_progress", "ended_at": now if ended else None,
            "archived_at": None, "cancel_initiated_at": None,
            "request_counts": {
                "processing": 0 if ended else len(requests), "succeeded": len(requests) - failed if ended else 0,
                "errored": failed if ended else 0, "canceled": 0, "expired": 0,
            },
            "results_url": f"{self.base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
        }  # fmt: skip

    def anthropic_results(self, batch_id: str) -> bytes:
        lines = []
        for index, request in enumerate(self.batches[batch_id]["requests"]):
            custom_id, params = request["custom_id"], request["params"]
            code = self.failures.get(custom_id)
            if code is not None:
                result: dict[str, Any] = {
                    "type": "errored", "error": {"type": "error", "error": {"type": code, "message": "bad"}},
                }  # fmt: skip
            else:
                prompt, completion = self.usage.get(custom_id, (10, 5))
                result = {"type": "succeeded", "message": {
                    "id": f"msg_{index}", "type": "message", "role": "assistant", "model": params["model"],
                    "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": prompt, "output_tokens": completion,
                              "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
                }}  # fmt: skip
            lines.append(json.dumps({"custom_id": custom_id, "result": result}).encode() + b"\n")
        return b"".join(lines)

    # Gemini (batch mode, inlined responses) ------------------------------------------------------------------

    def gemini_job(self, job_id: str, done: bool) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": "models/gemini-2.5-flash", "displayName": "nightly",
            "state": self.final_status if done else "BATCH_STATE_RUNNING",
        }  # fmt: skip
        if done and self.final_status == "BATCH_STATE_SUCCEEDED":
            responses = []
            for index, custom_id in enumerate(self.usage):
                prompt, completion = self.usage[custom_id]
                if custom_id in self.failures:
                    responses.append({"error": {"code": 3, "message": self.failures[custom_id]},
                                      "metadata": {"key": custom_id}})  # fmt: skip
                    continue
                responses.append({"metadata": {"key": custom_id}, "response": {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                                      "totalTokenCount": prompt + completion},
                    "modelVersion": "gemini-2.5-flash", "responseId": f"gem_{index}",
                }})  # fmt: skip
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        return {"name": f"batches/{job_id}", "metadata": metadata, "done": done}

    def poll(self, batch_id: str) -> bool:
        with self.lock:
            self.polls[batch_id] = self.polls.get(batch_id, 0) + 1
            return self.polls[batch_id] > 1


def _multipart_file(headers: Any, body: bytes) -> bytes:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + headers["content-type"].encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True)  # type: ignore[no-any-return]
    raise ValueError("no file part")


@contextmanager
def serve_batches() -> Iterator[BatchServer]:
    server_state = BatchServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path = self.path.split("?")[0]
            server_state.requests.append(("POST", path))
            if path == "/v1/files":
                self._send(200, server_state.upload(_multipart_file(self.headers, body)))
            elif path == "/v1/batches":
                self._send(200, server_state.create_batch(json.loads(body)))
            elif path == "/v1/messages/batches":
                self._send(200, server_state.anthropic_create(json.loads(body)))
            else:
                self._send(404, {"error": {"message": "not here", "type": "not_found"}})

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            server_state.requests.append(("GET", path))
            if m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
                self._send(200, server_state.files[m[1]], "application/octet-stream")
            elif m := re.fullmatch(r"/v1/batches/(batch_\w+)", path):
                self._send(200, server_state.openai_batch(m[1], server_state.poll(m[1])))
            elif m := re.fullmatch(r"/v1/messages/batches/(msgbatch_\w+)", path):
                self._send(200, server_state.anthropic_batch(m[1], server_state.poll(m[1])))
            elif m := re.fullmatch(r"/v1beta/batches/([\w-]+)", path):
                self._send(200, server_state.gemini_job(m[1], server_state.poll(m[1])))
            elif m := re.fullmatch(r"/v1/messages/batches/(msgbatch_\w+)/results", path):
                self._send(200, server_state.anthropic_results(m[1]), "application/binary")
            else:
                self._send(404, {"error": {"message": "not here", "type": "not_found"}})

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
