"""A local stand-in for the OpenAI and Anthropic APIs, so the demo runs offline with the real client libraries.

It speaks the documented wire formats: ``POST /v1/chat/completions`` (OpenAI chat completions, plain and
server-sent-event streams with the usage chunk) and ``POST /v1/messages`` (Anthropic Messages, plain and
streamed events). Answers are canned but shaped by the request: when tools are offered and no tool result came
back yet, the model asks for the first tool (a tool result handed back as text, ``Observation: ...``, counts, and a
``final_answer`` tool is called with the answer); unknown models get the provider's 404 error body. Gemini's
``POST /v1beta/models/{model}:generateContent`` is answered the same way (``functionCall`` parts, then text).
Token counts are estimated from the text (about four characters a token) so dollars come out realistic. Anthropic
prompt caching is honoured: the prefix up to the last ``cache_control`` block is written to the cache the first
time it is seen (``cache_creation_input_tokens``) and read from it afterwards (``cache_read_input_tokens``).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_MODELS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
ANTHROPIC_MODELS = {
    "claude-3-5-haiku-20241022": "claude-3-5-haiku-20241022",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
}

# What the stand-in model asks a tool for, by tool name.
TOOL_ARGUMENTS: dict[str, dict[str, Any]] = {"convert_currency": {"amount": 120, "currency": "EUR"}}


GEMINI_MODELS = {"gemini-2.5-flash", "gemini-2.0-flash"}


def _lower_types(schema: Any) -> Any:
    """A Gemini schema (``"type": "STRING"``) in JSON-schema spelling (``"string"``)."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    return schema


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") or part.get("content") or "" for part in content if isinstance(part, dict)]
        return " ".join(_text_of(part) for part in parts)
    return ""


def _city(text: str) -> str:
    """The place a question is about: its first capitalised word that does not start a sentence ("Is Kyoto a
    good place...", "the weather in Oaxaca"), else Lisbon. A capitalised word after "in"/"to"/"about"/"visit"
    is taken first, so a framework's own headings ("Current Task: Is it warm in Lisbon?") do not count as places."""
    if after := re.search(r"\b(?:in|to|about|visit)\s+([A-Z][a-z]+)\b", text):
        return after.group(1)
    for match in re.finditer(r"\b[A-Z][a-z]+\b", text):
        if not re.search(r"(^|[.?!:]\s*)$", text[: match.start()]):
            return match.group(0)
    return "Lisbon"


FINAL_ANSWER = "final_answer"


def _text_tool_result(messages: list[dict[str, Any]]) -> str | None:
    """A tool's result (or error) handed back in text, as smolagents does: the last user message (which may hold
    several, merged) ends with a line ``Observation:`` or ``Error:`` and what follows it."""
    if not messages or messages[-1].get("role") != "user":
        return None
    text = _text_of(messages[-1].get("content"))
    at, mark = max((text.rfind(mark), mark) for mark in ("Observation:\n", "Error:\n"))
    if at < 0 or (at > 0 and text[at - 1] != "\n"):
        return None
    return text[at + len(mark) :].split("\nNow let's retry", 1)[0].strip()


def _answer(last: str, tool_result: str | None) -> str:
    if tool_result is not None:
        return f"Here is what I found: {tool_result}. Enjoy the trip!"
    city = _city(last)
    if "plan" in last.lower():
        return f"Day 1: the old town of {city} and a walk by the water. Day 2: a market breakfast, then a day trip."
    if "spring" in last.lower():
        return f"Yes: {city} in spring is mild and less crowded than in summer."
    return f"Yes: {city} is worth a visit."


def _cache_parts(body: dict[str, Any]) -> tuple[list[str], int]:
    """The request in Anthropic's caching order (tools, system, messages) as serialised blocks, and how many of
    them the last ``cache_control`` breakpoint covers (0: no caching asked for)."""
    parts: list[str] = []
    covered = 0

    def add(block: Any) -> None:
        nonlocal covered
        parts.append(json.dumps(block, sort_keys=True))
        if isinstance(block, dict) and block.get("cache_control"):
            covered = len(parts)

    for tool in body.get("tools") or []:
        add(tool)
    system = body.get("system")
    for block in system if isinstance(system, list) else ([system] if system else []):
        add(block)
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else [content]:
            add(block)
    return parts, covered


def _tool_arguments(name: str, last: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the model passes a tool: known demo tools get their usual arguments; any other tool gets a value for
    each required parameter of its JSON schema (the city of the question for ``city``)."""
    if name in TOOL_ARGUMENTS:
        return TOOL_ARGUMENTS[name]
    properties = (schema or {}).get("properties") or {}
    required = (schema or {}).get("required") or (["city"] if name == "get_weather" else [])
    samples: dict[str, Any] = {"number": 120, "integer": 3, "boolean": True, "array": [], "object": {}}
    return {
        key: _city(last) if key == "city" else samples.get(str((properties.get(key) or {}).get("type")), "example")
        for key in required
    }


def _dspy_answer(messages: list[dict[str, Any]]) -> str | None:
    """A DSPy chat-adapter answer (``[[ ## field ## ]]`` sections) when the request is DSPy's, else ``None``: a
    ReAct step asks for the first tool listed, then for ``finish``; any other DSPy program gets its output fields,
    the last one the answer built from the tool's observation (so ``examples/dspy_react.py`` runs offline)."""
    system = _text_of(messages[0].get("content")) if messages else ""
    if "[[ ## completed ## ]]" not in system or "Your output fields are:" not in system:
        return None
    user = _text_of(messages[-1].get("content"))
    fields = re.findall(r"^\d+\. `(\w+)`", system.split("Your output fields are:", 1)[1].split("All interactions")[0],
                        re.MULTILINE)  # fmt: skip
    question = user.split("[[ ## trajectory ## ]]")[0]
    observation = re.search(r"\[\[ ## observation_\d+ ## \]\]\s*(.*?)\s*(?:\[\[ ##|$)", user, re.DOTALL)
    values: dict[str, str] = {}
    if "next_tool_name" in fields:
        tool = re.search(r"\(1\) (\w+), whose description", system)
        if observation is None and tool is not None:
            declared = re.search(r"\(1\) \w+, whose description .*?It takes arguments (\{.*?\})\.", system, re.DOTALL)
            names = re.findall(r"'(\w+)': \{", declared.group(1)) if declared else []
            args = {name: _city(question) if name == "city" else "example" for name in names}
            values = {"next_thought": "Let me check that.", "next_tool_name": tool.group(1),
                      "next_tool_args": json.dumps(args)}  # fmt: skip
        else:
            values = {"next_thought": "I have what I need.", "next_tool_name": "finish", "next_tool_args": "{}"}
    else:
        found = observation.group(1).strip().splitlines()[0] if observation else None
        for name in fields:
            values[name] = "From the observation." if name == "reasoning" else _answer(question, found)
    return "\n\n".join(f"[[ ## {name} ## ]]\n{values.get(name, '')}" for name in fields) + "\n\n[[ ## completed ## ]]"


class _Handler(BaseHTTPRequestHandler):
    server: StandInServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK stall per answer

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's naming)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        time.sleep(self.server.latency())
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/chat/completions"):
            self._openai(body)
        elif path.endswith("/messages"):
            self._anthropic(body)
        elif path.endswith(":generateContent"):
            self._gemini(body, path.rsplit("/", 1)[-1].removesuffix(":generateContent"))
        else:
            self._json(404, {"error": {"message": f"no route {path}", "type": "not_found_error"}})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        pass

    # ---- OpenAI chat completions --------------------------------------------------------------------------

    def _openai(self, body: dict[str, Any]) -> None:
        model = str(body.get("model"))
        if model not in OPENAI_MODELS:
            text = f"The model `{model}` does not exist or you do not have access to it."
            error = {"message": text, "type": "invalid_request_error", "param": None, "code": "model_not_found"}
            self._json(404, {"error": error})
            return
        messages = body.get("messages") or []
        prompt = tokens(json.dumps(messages)) + (tokens(json.dumps(body["tools"])) if body.get("tools") else 0)
        tool_result = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "tool"), None)
        if tool_result is None:
            tool_result = _text_tool_result(messages)
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": OPENAI_MODELS[model]}
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        tools = body.get("tools") or []
        # A ``final_answer`` tool (smolagents ends a run by calling it) is called only to answer.
        answer_tool = next((t for t in tools if t["function"]["name"] == FINAL_ANSWER), None)
        tools = [t for t in tools if t is not answer_tool]
        dspy_text = None if tools or answer_tool else _dspy_answer(messages)
        if answer_tool is not None and (tool_result is not None or not tools):
            last = _text_of(messages[-1].get("content")) if messages else ""
            arguments = json.dumps({"answer": _answer(last, tool_result)})
            call = {"name": FINAL_ANSWER, "arguments": arguments}
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:20]}", "type": "function", "function": call}]
            finish, completion = "tool_calls", tokens(arguments) + 8
        elif dspy_text is not None:
            message["content"] = dspy_text
            finish, completion = "stop", tokens(dspy_text)
        elif tools and tool_result is None:
            name, schema = tools[0]["function"]["name"], tools[0]["function"].get("parameters")
            last = _text_of(messages[-1].get("content")) if messages else ""
            arguments = json.dumps(_tool_arguments(name, last, schema))
            call = {"name": name, "arguments": arguments}
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:20]}", "type": "function", "function": call}]
            finish, completion = "tool_calls", tokens(arguments) + 8
        else:
            message["content"] = _answer(_text_of(messages[-1].get("content")) if messages else "", tool_result)
            finish, completion = "stop", tokens(message["content"])
        cached = (prompt // 2) // 64 * 64 if len(messages) > 2 else 0
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            self._json(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage,
                             "system_fingerprint": "fp_standin"})  # fmt: skip
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = _openai_chunks(base, message, finish, usage, include_usage)
        self._sse(((None, json.dumps(chunk)) for chunk in chunks), done=True)

    # ---- Anthropic messages -------------------------------------------------------------------------------

    def _anthropic(self, body: dict[str, Any]) -> None:
        model = str(body.get("model"))
        if model not in ANTHROPIC_MODELS:
            error = {"type": "not_found_error", "message": f"model: {model}"}
            self._json(404, {"type": "error", "error": error})
            return
        messages = body.get("messages") or []
        results = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"]
                   if isinstance(p, dict) and p.get("type") == "tool_result"]  # fmt: skip
        tool_result = _text_of(results[-1].get("content")) if results else None
        prompt = tokens(json.dumps(messages) + str(body.get("system") or ""))
        prompt += tokens(json.dumps(body["tools"])) if body.get("tools") else 0
        cache_read = (prompt // 2) // 64 * 64 if len(messages) > 1 else 0
        cache_write = 0
        parts, breakpoint_at = _cache_parts(body)
        if breakpoint_at:  # prompt caching asked for: the prefix is written once, then read
            prefix = "".join(parts[:breakpoint_at])
            with self.server.lock:
                seen = prefix in self.server.cached_prefixes
                self.server.cached_prefixes.add(prefix)
            cache_read, cache_write = (tokens(prefix), 0) if seen else (0, tokens(prefix))
            prompt = cache_read + cache_write + tokens("".join(parts[breakpoint_at:]))
        tools = body.get("tools") or []
        content: list[dict[str, Any]]
        if tools and tool_result is None:
            name = tools[0]["name"]
            last = _text_of(messages[-1].get("content")) if messages else ""
            arguments = _tool_arguments(name, last, tools[0].get("input_schema"))
            content = [
                {"type": "text", "text": "Let me check that."},
                {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:22]}", "name": name, "input": arguments},
            ]
            stop, completion = "tool_use", 12 + tokens(json.dumps(arguments))
        else:
            text = _answer(_text_of(messages[-1].get("content")) if messages else "", tool_result)
            content = [{"type": "text", "text": text}]
            stop, completion = "end_turn", tokens(text)
        usage = {
            "input_tokens": prompt - cache_read - cache_write,  # Anthropic reports input without the cached part
            "output_tokens": completion,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
        }
        message = {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                   "model": ANTHROPIC_MODELS[model], "content": content, "stop_reason": stop, "stop_sequence": None,
                   "usage": usage}  # fmt: skip
        if not body.get("stream"):
            self._json(200, message)
            return
        self._sse((event["type"], json.dumps(event)) for event in _anthropic_events(message))

    # ---- Gemini generateContent (Gemini Developer API) ------------------------------------------------------

    def _gemini(self, body: dict[str, Any], model: str) -> None:
        if model not in GEMINI_MODELS:
            error = {"code": 404, "message": f"models/{model} is not found", "status": "NOT_FOUND"}
            self._json(404, {"error": error})
            return
        contents = body.get("contents") or []
        parts = [p for c in contents for p in c.get("parts") or [] if isinstance(p, dict)]
        results = [p["functionResponse"].get("response") for p in parts if isinstance(p.get("functionResponse"), dict)]
        result = results[-1] if results else None
        tool_result = None
        if result is not None:  # ADK hands a tool's result back as {"result": ...} (or {"error": ...})
            inner = result.get("result", result.get("error")) if isinstance(result, dict) else result
            tool_result = inner if isinstance(inner, str) else json.dumps(inner)
        texts = [p.get("text") for p in (contents[-1].get("parts") or []) if p.get("text")] if contents else []
        last = " ".join(texts)
        declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
        prompt = tokens(json.dumps(contents)) + (tokens(json.dumps(declarations)) if declarations else 0)
        if declarations and tool_result is None:
            name = declarations[0]["name"]
            schema = declarations[0].get("parametersJsonSchema") or declarations[0].get("parameters")
            arguments = _tool_arguments(name, last, _lower_types(schema))
            call = {"name": name, "args": arguments, "id": f"call_{uuid.uuid4().hex[:20]}"}
            reply: list[dict[str, Any]] = [{"functionCall": call}]
            completion = tokens(json.dumps(arguments)) + 8
        else:
            text = _answer(last, tool_result)
            reply, completion = [{"text": text}], tokens(text)
        candidate = {"content": {"role": "model", "parts": reply}, "finishReason": "STOP", "index": 0}
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}
        self._json(200, {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                         "responseId": uuid.uuid4().hex[:22]})  # fmt: skip

    # ---- transport ----------------------------------------------------------------------------------------

    def _json(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
        self.end_headers()
        self.wfile.write(payload)

    def _sse(self, events: Iterator[tuple[str | None, str]], done: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            prefix = f"event: {name}\n" if name else ""
            self.wfile.write(f"{prefix}data: {data}\n\n".encode())
            self.wfile.flush()
            time.sleep(self.server.chunk_delay)
        if done:  # OpenAI ends its streams with [DONE]; Anthropic with a message_stop event
            self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


def _openai_chunks(
    base: dict[str, Any], message: dict[str, Any], finish: str, usage: dict[str, Any], include_usage: bool
) -> Iterator[dict[str, Any]]:
    chunk = {**base, "object": "chat.completion.chunk", "system_fingerprint": "fp_standin"}

    def delta(d: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        extra = {"usage": None} if include_usage else {}
        return {**chunk, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": reason}], **extra}

    yield delta({"role": "assistant", "content": "", "refusal": None})
    words = (message.get("content") or "").split(" ")
    for i, word in enumerate(words):
        yield delta({"content": word if i == 0 else " " + word})
    for index, call in enumerate(message.get("tool_calls") or ()):
        yield delta({"tool_calls": [{"index": index, **call}]})
    yield delta({}, finish)
    if include_usage:
        yield {**chunk, "choices": [], "usage": usage}


def _anthropic_events(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            for i, word in enumerate(block["text"].split(" ")):
                text = word if i == 0 else " " + word
                yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
        else:
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            partial = json.dumps(block["input"])
            yield {"type": "content_block_delta", "index": index,
                   "delta": {"type": "input_json_delta", "partial_json": partial}}  # fmt: skip
        yield {"type": "content_block_stop", "index": index}
    yield {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
           "usage": {"output_tokens": usage["output_tokens"]}}  # fmt: skip
    yield {"type": "message_stop"}


class StandInServer(ThreadingHTTPServer):
    """The stand-in on ``127.0.0.1`` and a free port; ``openai_url``/``anthropic_url`` are the clients' base URLs."""

    daemon_threads = True

    def __init__(
        self, latency: tuple[float, float] = (0.05, 0.3), chunk_delay: float = 0.01, seed: int = 7, port: int = 0
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self._random = random.Random(seed)
        self._latency = latency
        self.chunk_delay = chunk_delay
        self.lock = threading.Lock()
        self.cached_prefixes: set[str] = set()  # Anthropic prompt-cache entries written so far
        self._thread: threading.Thread | None = None

    def latency(self) -> float:
        return self._random.uniform(*self._latency)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base_url

    @property
    def gemini_url(self) -> str:
        """For google-genai: ``HttpOptions(base_url=...)`` (ADK: ``Gemini(base_url=...)``)."""
        return self.base_url

    def __enter__(self) -> StandInServer:
        self._thread = threading.Thread(target=self.serve_forever, name="agentmetrics-stand-in", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def main(argv: list[str] | None = None) -> int:
    """``python -m otel_agentmetrics.demo.server``: the stand-in on its own, for running examples/ offline."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m otel_agentmetrics.demo.server", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.3, help="the slowest answer, seconds")
    args = parser.parse_args(argv)
    with StandInServer(latency=(args.latency / 4, args.latency), port=args.port) as server:
        print("Stand-in for the OpenAI and Anthropic APIs (offline). In another shell:", flush=True)
        print(f"export OPENAI_BASE_URL={server.openai_url} OPENAI_API_KEY=stand-in", flush=True)
        print(f"export ANTHROPIC_BASE_URL={server.anthropic_url} ANTHROPIC_API_KEY=stand-in", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
