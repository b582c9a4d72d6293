"""LangChain: an ``execute_tool`` span for every ``BaseTool.run`` / ``arun`` (and so ``invoke``/``ainvoke`` and
agents built on them), with the ``ToolCall`` id when the tool is invoked with one; and a model-call span for a chat
model whose backend no client instrumentor sees (see ``_langchain_models``).

A tool whose error ``handle_tool_error`` turns into a result still counts as failed: ``error.type=tool_error``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from contextvars import ContextVar
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper, report_error, sync_tool_wrapper
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from ._langchain_models import agenerate_wrapper, astream_wrapper, generate_wrapper, stream_wrapper

pending_call_id: ContextVar[str | None] = ContextVar("agentmetrics_langchain_tool_call_id", default=None)
"""The model's tool-call id of the tool a caller is about to run without passing it (the legacy
``AgentExecutor`` runs ``tool.run(tool_input)``, the id is on its ``ToolAgentAction``): taken by the next tool run."""


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    tool_input = args[0] if args else kwargs.get("tool_input")
    call_id = kwargs.get("tool_call_id")
    if call_id is None and pending_call_id.get() is not None:
        call_id = pending_call_id.get()
        pending_call_id.set(None)  # a tool the tool runs is not the one the model asked for
    return instance.name, instance.description, call_id, tool_input


def _output(result: Any) -> Any:
    # Invoked with a ToolCall, a tool returns a ToolMessage; a handled error comes back with status "error".
    if getattr(result, "status", None) == "error" and hasattr(result, "tool_call_id"):
        report_error(sc.ERROR_TYPE_TOOL)
    return getattr(result, "content", result) if hasattr(result, "tool_call_id") else result


def _handled(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``handle_tool_error``/``handle_validation_error`` turned the tool's exception into its result: a tool run
    without a tool-call id (the legacy ``AgentExecutor``'s) returns that text with no ``status`` to read."""
    result = wrapped(*args, **kwargs)
    report_error(sc.ERROR_TYPE_TOOL)
    return result


class LangChainInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``langchain-core`` tools and chat models."""

    dependencies: Collection[str] = ("langchain-core >= 0.3",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        module = "langchain_core.tools.base"
        yield module, "BaseTool.run", sync_tool_wrapper(telemetry, _describe, _output)
        yield module, "BaseTool.arun", async_tool_wrapper(telemetry, _describe, _output)
        yield module, "_handle_tool_error", _handled
        yield module, "_handle_validation_error", _handled
        # ``invoke``/``ainvoke``/``batch`` go through ``generate``/``agenerate``; streams through the two others.
        models = "langchain_core.language_models.chat_models"
        yield models, "BaseChatModel.generate", generate_wrapper(telemetry)
        yield models, "BaseChatModel.agenerate", agenerate_wrapper(telemetry)
        yield models, "BaseChatModel.stream", stream_wrapper(telemetry)
        yield models, "BaseChatModel.astream", astream_wrapper(telemetry)
