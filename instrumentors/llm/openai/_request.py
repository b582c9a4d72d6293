"""Requests: which endpoint a request goes to, and the record it starts.

We read the request at the client's ``request()`` method, where the body is the plain dict the client is about
to send (``options.json_data``), the same for ``create``, ``parse``, the ``stream`` helpers and the raw-response
wrappers. Endpoints are told apart by path with one dict lookup.
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics.record import CallRecord

from . import _content
from ._endpoint import endpoint_of

CHAT = 1
RESPONSES = 2
EMBEDDINGS = 3
COMPLETIONS = 4
IMAGES = 5
TRANSCRIPTION = 6
SPEECH = 7

KINDS: dict[str, int] = {
    "/chat/completions": CHAT,
    "/responses": RESPONSES,
    "/embeddings": EMBEDDINGS,
    "/completions": COMPLETIONS,
    "/images/generations": IMAGES,
    "/audio/transcriptions": TRANSCRIPTION,
    "/audio/translations": TRANSCRIPTION,
    "/audio/speech": SPEECH,
}
_OPERATIONS = {
    CHAT: sc.OP_CHAT,
    RESPONSES: sc.OP_CHAT,
    EMBEDDINGS: sc.OP_EMBEDDINGS,
    COMPLETIONS: sc.OP_TEXT_COMPLETION,
    IMAGES: sc.OP_GENERATE_CONTENT,
    TRANSCRIPTION: sc.OP_GENERATE_CONTENT,
    SPEECH: sc.OP_GENERATE_CONTENT,
}
_MEDIA_OUTPUT = {IMAGES: "image", TRANSCRIPTION: "text", SPEECH: "speech"}

SERVICE_TIER = "openai.request.service_tier"
_CHAT_NUMBERS = (
    ("frequency_penalty", "frequency_penalty"),
    ("presence_penalty", "presence_penalty"),
    ("seed", "seed"),
    ("n", "choice_count"),
)
"""Chat/legacy request parameter -> record field, for numbers most requests leave out."""
EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"


class OpenAIRecord(CallRecord):
    """The neutral record plus what the response side of this instrumentor needs to know."""

    __slots__ = ("kind", "hide_usage", "tools_offered")

    kind: int
    hide_usage: bool
    tools_offered: bool
    """The request offered the model tools: only then can its stream carry tool-call fragments."""


_NUMBERS = (int, float)  # a tuple: ``int | float`` would build a union object on every call


def _number(value: Any) -> Any:
    # The client sends numbers as given; booleans and strings are not request parameters we report.
    return value if isinstance(value, _NUMBERS) and not isinstance(value, bool) else None


def read_request(client: Any, options: Any, capture: bool, stream_usage: bool) -> OpenAIRecord | None:
    """The record of one request, or ``None`` for requests that are not model calls."""
    kind = KINDS.get(options.url)
    if kind is None:
        return None
    body = options.json_data
    if not isinstance(body, dict) or options.method.lower() != "post":
        return None
    provider, address, port = endpoint_of(client)
    get = body.get
    model = get("model")
    stream = get("stream") is True
    record = OpenAIRecord(
        _OPERATIONS[kind],
        provider,
        request_model=model if isinstance(model, str) else None,
        server_address=address,
        server_port=port,
        stream=stream,
    )
    record.kind = kind
    record.hide_usage = False
    record.tools_offered = False
    if kind == EMBEDDINGS:
        _embeddings_request(record, get)
        return record
    if kind >= IMAGES:
        _media_request(record, get)
        return record
    record.temperature = _number(get("temperature"))
    record.top_p = _number(get("top_p"))
    tier = get("service_tier")
    if tier is not None and tier != "auto":
        record.attributes[SERVICE_TIER] = tier
    if kind == RESPONSES:
        _responses_request(record, get, capture)
        return record
    record.max_tokens = _number(get("max_completion_tokens")) or _number(get("max_tokens"))
    tools = get("tools")
    record.tools_offered = tools is not None and not (type(tools) in (list, tuple) and not tools)
    for param, field in _CHAT_NUMBERS:
        value = get(param)
        if value is not None:
            setattr(record, field, _number(value))
    stop = get("stop")
    if stop is not None:
        record.stop_sequences = [stop] if isinstance(stop, str) else list(stop)
    response_format = get("response_format")
    if isinstance(response_format, dict):
        record.attributes[sc.OUTPUT_TYPE] = "text" if response_format.get("type") == "text" else "json"
    if stream and stream_usage:
        _ask_for_usage(record, options, body)
    if capture:
        if kind == CHAT:
            record.input_messages, system = _content.chat_input(get("messages"))
            record.system_instructions = system or None
            record.tool_definitions = _content.tool_definitions(get("tools")) or None
        else:
            prompt = get("prompt")
            prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []
            record.input_messages = [
                {"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts if isinstance(p, str)
            ]
    return record


def _ask_for_usage(record: OpenAIRecord, options: Any, body: dict[str, Any]) -> None:
    """Opt-in: ask a streamed call to report its tokens, and remember to hide the extra chunk from the user."""
    stream_options = body.get("stream_options")
    if isinstance(stream_options, dict) and stream_options.get("include_usage"):
        return
    extra = dict(stream_options) if isinstance(stream_options, dict) else {}
    extra["include_usage"] = True
    # ``options`` is built per call by the client; the user's own dicts are never touched.
    options.json_data = {**body, "stream_options": extra}
    record.hide_usage = True


def _responses_request(record: OpenAIRecord, get: Any, capture: bool) -> None:
    record.max_tokens = _number(get("max_output_tokens"))
    conversation = get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if isinstance(conversation, str):
        record.conversation_id = conversation
    text = get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        record.attributes[sc.OUTPUT_TYPE] = "text" if text["format"].get("type") == "text" else "json"
    if capture:
        record.input_messages = _content.responses_input(get("input"))
        instructions = get("instructions")
        if isinstance(instructions, str):
            record.system_instructions = [{"type": "text", "content": instructions}]
        record.tool_definitions = _content.tool_definitions(get("tools")) or None


def _media_request(record: OpenAIRecord, get: Any) -> None:
    """Images, transcriptions and speech: their usage is in the response (images, transcriptions) or is the
    request's text (speech, priced per character where the table prices it so). Their streamed forms (partial
    images, transcript deltas) are recorded without usage: the call's span ends when the stream is returned."""
    record.stream = False
    record.attributes[sc.OUTPUT_TYPE] = _MEDIA_OUTPUT[record.kind]
    if record.kind == SPEECH:
        text = get("input")
        if isinstance(text, str) and text:
            record.usage_details = {"input_characters": len(text)}


def _embeddings_request(record: OpenAIRecord, get: Any) -> None:
    encoding = get("encoding_format")
    if isinstance(encoding, str):
        record.attributes[sc.REQUEST_ENCODING_FORMATS] = [encoding]
    dimensions = _number(get("dimensions"))
    if dimensions is not None:
        record.attributes[EMBEDDING_DIMENSIONS] = dimensions
