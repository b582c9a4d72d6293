"""LlamaIndex: an ``invoke_agent`` span, with the run's roll-up, for every run of a workflow (agents such as
``FunctionAgent``, ``ReActAgent`` and ``AgentWorkflow`` are workflows), and an ``execute_tool`` span for every
``FunctionTool`` call.

``Workflow.run`` schedules the run in the background and returns a handler at once: the run is opened and made
current while ``run`` schedules it (so the workflow's tasks, created then, belong to it) and ends when the handler
completes, failed when it raises. An agent's span is named after the agent (``FunctionAgent(name=...)``; an
``AgentWorkflow`` after its root agent), any other workflow after its class. An agent left with LlamaIndex's
default name ``Agent`` inside another run is part of that run. Model calls are the client instrumentors' spans
(``llama_index.llms.openai.OpenAI`` -> ``openai``), or, for an LLM no client instrumentor sees (a ``CustomLLM``),
recorded from the response LlamaIndex reports (``_llamaindex_models``). A tool's exception, which an agent hands
to the model as a result, still fails the tool span with the exception's class name. An agent's ``call_tool`` step
knows the model's tool-call id: it is handed down to the tool run, so the tool span links to the model call that
asked for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar
from typing import Any

from otel_agentmetrics._agent_layer import text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper, sync_tool_wrapper
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from ._llamaindex_models import PendingCalls, on_event_end, on_event_start

DEFAULT_AGENT_NAME = "Agent"  # ``llama_index.core.agent.workflow.base_agent.DEFAULT_AGENT_NAME``
_call_id: ContextVar[str | None] = ContextVar("agentmetrics_llamaindex_tool_call_id", default=None)


def _name(workflow: Any) -> tuple[str, bool]:
    """The run's name, and whether it is LlamaIndex's placeholder rather than one the user chose."""
    name = getattr(workflow, "name", None)
    if not isinstance(name, str) or not name:
        root = getattr(workflow, "root_agent", None)  # AgentWorkflow: its root agent's name
        agents = getattr(workflow, "agents", None)
        if isinstance(root, str) and root:
            name = root
        elif isinstance(agents, dict) and len(agents) == 1:
            name = next(iter(agents))
    if isinstance(name, str) and name:
        return name, name == DEFAULT_AGENT_NAME
    return type(workflow).__name__, False


def _end_with(run: AgentRun) -> Callable[[Any], None]:
    def done(result: Any) -> None:
        try:
            error = None if result.cancelled() else result.exception()
        except BaseException as reading:  # cancelled in a way ``cancelled()`` did not say
            error = reading
        if error is None:
            run.end()
        else:
            run.fail(error)

    return done


def _run(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            name, placeholder = _name(instance)
            run = start_agent(telemetry, name, default_name=placeholder)
        except Exception:
            internal_error("opening a LlamaIndex workflow run")
            run = None
        if run is None:
            return wrapped(*args, **kwargs)
        with run.activate():  # the workflow's tasks are created now: they carry the run
            try:
                handler = wrapped(*args, **kwargs)
            except BaseException as error:
                run.fail(error)
                raise
        try:
            # The handler waits on this task for the run's result (older releases: the handler is a future).
            getattr(handler, "_result_task", handler).add_done_callback(_end_with(run))
        except Exception:
            internal_error("watching a LlamaIndex workflow handler")
            run.end()
        return handler

    return traced


async def _call_tool_step(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """An agent's ``call_tool(ctx, ev)`` step: the ``ToolCall`` event's id is the current tool-call id meanwhile."""
    event = args[1] if len(args) > 1 else kwargs.get("ev")
    tool_id = getattr(event, "tool_id", None)
    token = _call_id.set(text(tool_id))
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _call_id.reset(token)


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    metadata = instance.metadata
    arguments = {k: v for k, v in kwargs.items() if k != getattr(instance, "ctx_param_name", None)}
    return metadata.get_name(), metadata.description, _call_id.get(), arguments or (list(args) if args else None)


def _output(result: Any) -> Any:
    return getattr(result, "content", result)


class LlamaIndexInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``llama-index-core`` workflows (agents included) and function tools."""

    dependencies: Collection[str] = ("llama-index-core >= 0.12",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "workflows.workflow", "Workflow.run", _run(telemetry)
        agents = "llama_index.core.agent.workflow"
        yield f"{agents}.base_agent", "BaseWorkflowAgent.call_tool", _call_tool_step
        yield f"{agents}.multi_agent_workflow", "AgentWorkflow.call_tool", _call_tool_step
        tools = "llama_index.core.tools.function_tool"
        yield tools, "FunctionTool.call", sync_tool_wrapper(telemetry, _describe, _output)
        yield tools, "FunctionTool.acall", async_tool_wrapper(telemetry, _describe, _output)
        # Every LLM call is bracketed by its callback manager's LLM event: recorded there when no client did.
        pending = PendingCalls(telemetry)
        yield "llama_index.core.callbacks.base", "CallbackManager.on_event_start", on_event_start(pending)
        yield "llama_index.core.callbacks.base", "CallbackManager.on_event_end", on_event_end(pending)
