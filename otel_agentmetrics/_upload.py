"""Content uploaded to storage instead of put on spans: opentelemetry-util-genai's completion hook.

``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK=upload`` loads the utilities' ``upload`` hook (entry point group
``opentelemetry_genai_completion_hook``; any other hook registered there works too), configured by its own
variables: ``OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH`` (any fsspec path: a directory, ``memory://``,
``gs://...``), ``..._UPLOAD_FORMAT`` (``json``/``jsonl``) and ``..._UPLOAD_MAX_QUEUE_SIZE``. With it set,
instrumentors collect each call's content, which goes to the hook when the call ends; the hook writes it on its
own threads and puts ``gen_ai.input.messages_ref``, ``gen_ai.output.messages_ref``,
``gen_ai.system_instructions_ref`` and ``gen_ai.tool.definitions_ref`` on the span. The content itself is on the
span only if content capture is on as well.

A full queue drops the upload (the hook never waits) and a failing store fails on the hook's thread; both are
counted in ``agentmetrics.export.dropped`` (signal ``content``), from the hook's own log records.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from ._guard import internal_error, logger

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from ._telemetry import Telemetry
    from .record import CallRecord

ENV_COMPLETION_HOOK = "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK"
_HOOK_LOGGER = "opentelemetry.util.genai._upload.completion_hook"
SIGNAL = "content"


def load(telemetry: Telemetry) -> Any:
    """Give ``telemetry`` the completion hook the environment names, if any; returns it (``None``: none)."""
    if not os.environ.get(ENV_COMPLETION_HOOK):
        return None
    try:
        from opentelemetry.util.genai.completion_hook import _NoOpCompletionHook, load_completion_hook
    except ImportError:
        logger.warning(
            "otel-agentmetrics: %s is set but opentelemetry-util-genai is not installed; content is not uploaded "
            "(pip install 'opentelemetry-util-genai[upload]')",
            ENV_COMPLETION_HOOK,
        )
        return None
    hook = load_completion_hook()  # logs and falls back to a no-op when the hook cannot be built
    if isinstance(hook, _NoOpCompletionHook):
        return None
    _count_losses()
    telemetry.completion_hook = hook
    telemetry.capture_content = True  # instrumentors collect content; the span gets it only if capture is on
    return hook


def hand_over(telemetry: Telemetry, span: Span, record: CallRecord) -> None:
    """Give a call's content to the hook (which queues the upload and sets the ``_ref`` attributes)."""
    try:
        inputs = [_input(message) for message in record.input_messages or ()]
        outputs = [_output(message) for message in record.output_messages or ()]
        system = [_part(part) for part in record.system_instructions or ()]
        tools = [_tool(tool) for tool in record.tool_definitions or ()]
        if inputs or outputs or system or tools:
            telemetry.completion_hook.on_completion(
                inputs=inputs, outputs=outputs, system_instruction=system, tool_definitions=tools or None, span=span
            )
    except Exception:
        internal_error("handing content to the completion hook")


def shutdown(hook: Any, timeout_s: float = 5.0) -> None:
    """Let queued uploads finish (within ``timeout_s``), then stop the hook's threads."""
    stop = getattr(hook, "shutdown", None)
    if stop is None:
        wrapped = getattr(hook, "_wrapped", None)
        stop = getattr(wrapped, "shutdown", None)
    if stop is not None:
        try:
            stop(timeout_sec=timeout_s)
        except Exception:
            logger.debug("stopping the completion hook failed", exc_info=True)


# --- our content records (the conventions' JSON shape) as the utilities' types ---------------------------------


def _part(part: Any) -> Any:
    from opentelemetry.util.genai import types

    if not isinstance(part, dict):
        return types.Text(content=str(part))
    kind = part.get("type")
    if kind == "text":
        return types.Text(content=str(part.get("content", "")))
    if kind == "reasoning":
        return types.Reasoning(content=str(part.get("content", "")))
    if kind == "tool_call":
        return types.ToolCallRequest(arguments=part.get("arguments"), name=str(part.get("name", "")), id=part.get("id"))
    if kind == "tool_call_response":
        return types.ToolCallResponse(response=part.get("response", part.get("result")), id=part.get("id"))
    return types.GenericPart(type=str(kind), value={k: v for k, v in part.items() if k != "type"})


def _input(message: dict[str, Any]) -> Any:
    from opentelemetry.util.genai import types

    return types.InputMessage(role=str(message.get("role", "")), parts=[_part(p) for p in message.get("parts") or ()])


def _output(message: dict[str, Any]) -> Any:
    from opentelemetry.util.genai import types

    return types.OutputMessage(
        role=str(message.get("role", "assistant")),
        parts=[_part(p) for p in message.get("parts") or ()],
        finish_reason=str(message.get("finish_reason") or ""),
    )


def _tool(tool: dict[str, Any]) -> Any:
    from opentelemetry.util.genai import types

    if tool.get("type", "function") == "function":
        return types.FunctionToolDefinition(
            name=str(tool.get("name", "")), description=tool.get("description"), parameters=tool.get("parameters")
        )
    return types.GenericToolDefinition(name=str(tool.get("name", "")), type=str(tool.get("type")))


# --- losses ----------------------------------------------------------------------------------------------------


class _LossCounter(logging.Filter):
    """Counts the uploads the hook reports it dropped (queue full) or failed (the store refused), from its log."""

    def __init__(self) -> None:
        super().__init__()
        from .exporters.delivery import EXPORT_FAILED, QUEUE_FULL, DropCounter

        self.dropped = DropCounter(SIGNAL, "upload")
        self._reasons = (("queue is full", QUEUE_FULL), ("uploader failed", EXPORT_FAILED))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = str(record.msg)
            for marker, reason in self._reasons:
                if marker in text:
                    self.dropped.add(1, reason)
        except Exception:
            pass
        return True


_counter: _LossCounter | None = None


def _count_losses() -> None:
    global _counter
    if _counter is None:
        _counter = _LossCounter()
        logging.getLogger(_HOOK_LOGGER).addFilter(_counter)


def dropped() -> int:
    """Uploads lost so far in this process (queue full or failed)."""
    return _counter.dropped.total if _counter is not None else 0
