"""Stream accumulators: read each chunk (or event) on its way to the user, fill the record at the end.

``add`` runs once per chunk, so it does as little as it can: ids once, finish reasons, tool-call fragments (rare),
text only when content capture is on. Usage-only chunks we asked for ourselves return ``False`` (hidden).
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics.record import CallRecord

from ._request import COMPLETIONS, RESPONSES, OpenAIRecord
from ._response import chat_usage, read_responses


def _text(value: Any) -> str | None:
    """A non-empty string, or ``None``."""
    return value if isinstance(value, str) and value else None


class _ToolCall:
    __slots__ = ("id", "name", "arguments")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class ChatStream:
    """Chat Completions chunks (``n > 1``, streamed tool-call fragments assembled).

    Read in batches (see :mod:`otel_agentmetrics._stream`), each from the end that holds what is wanted: the ids
    from the first chunks that have them, usage and each choice's finish reason from the last ones (the last
    value wins, as if every chunk had been read in order). Every chunk is read only for what is spread over the
    stream: tool-call fragments, when the request offered tools (a model cannot call a tool it was not given),
    and text, when content is captured. A usage chunk we asked for ourselves must be hidden as it passes, so
    that stream is read chunk by chunk (``add``)."""

    __slots__ = (
        "response_id",
        "model",
        "need_ids",
        "reasons",
        "usage",
        "tools",
        "texts",
        "capture",
        "hide_usage",
        "pending",
        "choices",
        "read_deltas",
    )

    def __init__(self, record: OpenAIRecord, capture: bool) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.need_ids = True
        self.reasons: dict[int, str] = {}
        self.usage: Any = None
        self.tools: dict[tuple[int, int], _ToolCall] | None = None
        self.texts: dict[int, list[str]] | None = {} if capture else None
        self.capture = capture
        self.hide_usage = record.hide_usage
        self.pending: list[Any] | None = None if record.hide_usage else []
        count = record.choice_count
        self.choices = count if type(count) is int and count > 1 else 1  # finish reasons to look for
        self.read_deltas = capture or record.tools_offered

    def _take_ids(self, chunk: Any) -> None:
        # Azure OpenAI streams open with a prompt-filter chunk whose id and model are "": take each from the first
        # chunk that has it.
        self.response_id = self.response_id or _text(getattr(chunk, "id", None))
        self.model = self.model or _text(getattr(chunk, "model", None))
        self.need_ids = not (self.response_id and self.model)

    def take(self) -> None:
        """Read the pending chunks (the proxy empties the list)."""
        chunks = self.pending
        if not chunks:
            return
        if self.need_ids:
            for chunk in chunks:
                self._take_ids(chunk)
                if not self.need_ids:
                    break
        for chunk in reversed(chunks):
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.usage = usage
                break
        self._last_reasons(chunks)
        if self.read_deltas:
            for chunk in chunks:
                self._deltas(chunk)

    def _last_reasons(self, chunks: list[Any]) -> None:
        """Each choice's last finish reason in ``chunks``, read from the end until every choice has one."""
        found: dict[int, str] = {}
        for chunk in reversed(chunks):
            seen: dict[Any, Any] = {}
            try:
                for choice in chunk.choices:
                    reason = choice.finish_reason
                    if reason is not None:
                        seen[choice.index] = reason
            except (AttributeError, TypeError):
                pass  # a field of the wrong shape: what this chunk would have added is lost, as chunk by chunk
            for index, reason in seen.items():
                if type(index) is int and isinstance(reason, str) and index not in found:
                    found[index] = reason
            if len(found) >= self.choices:
                break
        self.reasons.update(found)

    def _deltas(self, chunk: Any) -> None:
        """Tool-call fragments and captured text of one chunk."""
        try:
            for choice in chunk.choices:
                delta = choice.delta
                if delta is not None:
                    if delta.tool_calls:
                        self._tool_fragments(choice.index, delta.tool_calls)
                    if self.texts is not None and delta.content:
                        self.texts.setdefault(choice.index, []).append(delta.content)
        except (AttributeError, TypeError):
            pass  # the client does not validate chunks: a field of the wrong shape costs this chunk's fragments

    def add(self, chunk: Any) -> bool:
        # Chunk by chunk (only when a usage chunk must be hidden): the same reads as ``take``, one chunk at a time.
        if self.need_ids:
            self._take_ids(chunk)
        try:
            choices = chunk.choices
            for choice in choices:
                reason = choice.finish_reason
                if reason is not None:
                    self.reasons[choice.index] = reason
                delta = choice.delta
                if delta is not None:
                    if delta.tool_calls:
                        self._tool_fragments(choice.index, delta.tool_calls)
                    if self.texts is not None and delta.content:
                        self.texts.setdefault(choice.index, []).append(delta.content)
        except (AttributeError, TypeError):
            # The client does not validate chunks: a field of the wrong shape (``"choices": null``, a choice that
            # is a string) costs what this chunk would have added, and usage is still read.
            choices = getattr(chunk, "choices", None)
        try:
            usage = chunk.usage
        except AttributeError:
            return True
        if usage is None:
            return True
        self.usage = usage
        return not (self.hide_usage and not choices)

    def _tool_fragments(self, index: int, fragments: Any) -> None:
        tools = self.tools
        if tools is None:
            tools = self.tools = {}
        for fragment in fragments:
            key = (index, fragment.index)
            call = tools.get(key)
            if call is None:
                call = tools[key] = _ToolCall()
            if fragment.id:
                call.id = fragment.id
            function = fragment.function
            if function is not None:
                if function.name:
                    call.name = function.name
                if function.arguments:
                    call.arguments.append(function.arguments)

    def finish(self, record: CallRecord) -> None:
        record.response_id = self.response_id
        record.response_model = self.model
        chat_usage(record, self.usage)
        # What ``add`` kept unchecked is checked here, once: a finish reason or index of the wrong type is left out.
        reasons = self.reasons = {i: r for i, r in self.reasons.items() if type(i) is int and isinstance(r, str)}
        if reasons:
            record.finish_reasons = [reasons[i] for i in sorted(reasons)]
        if self.tools:
            ids = [call.id for call in self.tools.values() if isinstance(call.id, str) and call.id]
            record.tool_call_ids = ids or None
        if self.texts is not None:
            try:
                record.output_messages = self._output_messages()
            except (AttributeError, TypeError):  # a text or tool fragment of the wrong type
                record.output_messages = None

    def _output_messages(self) -> list[dict[str, Any]]:
        indexes = sorted(set(self.reasons) | set(self.texts or ()) | {i for i, _ in self.tools or ()})
        messages = []
        for index in indexes:
            parts: list[dict[str, Any]] = []
            text = "".join((self.texts or {}).get(index, ()))
            if text:
                parts.append({"type": "text", "content": text})
            for (choice, _), call in sorted((self.tools or {}).items()):
                if choice == index:
                    parts.append(
                        {"type": "tool_call", "id": call.id, "name": call.name, "arguments": "".join(call.arguments)}
                    )
            messages.append({"role": "assistant", "parts": parts, "finish_reason": self.reasons.get(index)})
        return messages


class CompletionStream(ChatStream):
    """Legacy completions chunks: text per choice instead of a delta."""

    __slots__ = ()

    def _deltas(self, chunk: Any) -> None:
        try:
            for choice in chunk.choices:
                if self.texts is not None and choice.text:
                    self.texts.setdefault(choice.index, []).append(choice.text)
        except (AttributeError, TypeError):
            pass

    def add(self, chunk: Any) -> bool:
        if self.need_ids:
            self._take_ids(chunk)
        try:
            choices = chunk.choices
            for choice in choices:
                if choice.finish_reason is not None:
                    self.reasons[choice.index] = choice.finish_reason
                if self.texts is not None and choice.text:
                    self.texts.setdefault(choice.index, []).append(choice.text)
        except (AttributeError, TypeError):
            choices = getattr(chunk, "choices", None)
        try:
            usage = chunk.usage
        except AttributeError:
            return True
        if usage is not None:
            self.usage = usage
            return not (self.hide_usage and not choices)
        return True


class ResponsesStream:
    """Responses API server-sent events: the final ``response.*`` event carries the whole response."""

    __slots__ = ("response", "created", "capture")

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self, record: OpenAIRecord, capture: bool) -> None:
        self.response: Any = None
        self.created: Any = None
        self.capture = capture

    def add(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind in self._FINAL:
            self.response = getattr(event, "response", None)
        elif kind == "response.created":
            self.created = getattr(event, "response", None)
        return True

    def finish(self, record: CallRecord) -> None:
        if self.response is not None:
            read_responses(record, self.response, self.capture)
        elif self.created is not None:
            record.response_id = getattr(self.created, "id", None)
            record.response_model = getattr(self.created, "model", None)


def accumulator(record: OpenAIRecord, capture: bool) -> Any:
    if record.kind == RESPONSES:
        return ResponsesStream(record, capture)
    if record.kind == COMPLETIONS:
        return CompletionStream(record, capture)
    return ChatStream(record, capture)
