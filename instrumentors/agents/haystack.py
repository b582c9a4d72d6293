"""Haystack (``haystack-ai``): an ``invoke_agent`` span, with the run's roll-up, for every ``Agent.run`` /
``run_async``, and an ``execute_tool`` span for every tool call the agent makes, with the model's tool-call id.

The agent's name is the name it has in its pipeline (``Pipeline.add_component("researcher", agent)``), else
``Agent``; an agent left so named inside another agent run (your ``agentmetrics.agent(...)``) is part of that run,
while a named one (an ``AgentTool``'s agent inside another agent, for instance) is a nested run. Model calls are
the client instrumentors' spans (``OpenAIChatGenerator`` -> ``openai``).

Tools: the agent runs each call through ``Tool.invoke`` / ``invoke_async`` (function tools, ``ComponentTool``,
``PipelineTool``, ``AgentTool``), in a context it copies for each call when it prepares the call; the call's
``ToolCall.id`` is put in that context, so the tool run carries it and links to the model call that asked for it.
A tool's exception, which Haystack wraps in ``ToolInvocationError`` and by default hands to the model as the
tool's result, fails the tool span with the exception's own class name.

Haystack's own tracing (``haystack.tracing``, on when OpenTelemetry is configured) emits ``haystack.*`` spans with
no GenAI operation name: the summary view ignores them, and ours nest inside them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar
from typing import Any

from otel_agentmetrics._agent_layer import async_run_wrapper, fail_open, sync_run_wrapper, text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.tools import ToolRun, start_tool

DEFAULT_NAME = "Agent"
_call_id: ContextVar[str | None] = ContextVar("agentmetrics_haystack_tool_call_id", default=None)


@fail_open("opening a Haystack agent run")
def _open_agent(telemetry: Telemetry, agent: Any, *_: Any) -> AgentRun | None:
    name = getattr(agent, "__component_name__", None)
    if not isinstance(name, str) or not name:
        name = DEFAULT_NAME
    return start_agent(telemetry, name, default_name=name == DEFAULT_NAME)


def _tool_call_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    tool_call = kwargs.get("tool_call", args[2] if len(args) > 2 else None)
    call_id = getattr(tool_call, "id", None)
    return text(call_id)


def _bound_invoke(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``_make_context_bound_invoke(tool, args, tool_call, span)`` copies the context the call will run in: the
    tool-call id is in it."""
    token = _call_id.set(_tool_call_id(args, kwargs))
    try:
        return wrapped(*args, **kwargs)
    finally:
        _call_id.reset(token)


def _bounded_invoke_async(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``_make_bounded_invoke_async(tool, args, semaphore, tool_call, span)`` returns the coroutine function a task
    will run: the tool-call id is set inside it."""
    runner = wrapped(*args, **kwargs)
    tool_call = kwargs.get("tool_call", args[3] if len(args) > 3 else None)
    call_id = getattr(tool_call, "id", None)

    async def with_call_id() -> Any:
        token = _call_id.set(text(call_id))
        try:
            return await runner()
        finally:
            _call_id.reset(token)

    return with_call_id


def _open_tool(telemetry: Telemetry, tool: Any, kwargs: dict[str, Any]) -> ToolRun | None:
    try:
        arguments = kwargs if telemetry.capture.enabled else None
        return start_tool(tool.name, getattr(tool, "description", None), _call_id.get(), arguments, telemetry=telemetry)
    except Exception:
        internal_error("opening a Haystack tool run")
        return None


def _cause(error: BaseException) -> BaseException:
    """The tool's own exception for a ``ToolInvocationError`` that wraps it (``raise ... from e``)."""
    if type(error).__name__ == "ToolInvocationError" and isinstance(error.__cause__, Exception):
        return error.__cause__
    return error


def _invoke(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open_tool(telemetry, instance, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        with run.activate():
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as error:
                run.fail(_cause(error))
                raise
        run.end(result)
        return result

    return traced


def _invoke_async(telemetry: Telemetry) -> Callable[..., Any]:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open_tool(telemetry, instance, kwargs)
        if run is None:
            return await wrapped(*args, **kwargs)
        with run.activate():
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as error:
                run.fail(_cause(error))
                raise
        run.end(result)
        return result

    return traced


class HaystackInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``haystack-ai`` agents and their tool calls."""

    dependencies: Collection[str] = ("haystack-ai >= 2.9",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        agents = "haystack.components.agents.agent"
        yield agents, "Agent.run", sync_run_wrapper(telemetry, _open_agent)
        yield agents, "Agent.run_async", async_run_wrapper(telemetry, _open_agent)
        calling = "haystack.components.agents.tool_calling"
        yield calling, "_make_context_bound_invoke", _bound_invoke
        yield calling, "_make_bounded_invoke_async", _bounded_invoke_async
        yield "haystack.tools.tool", "Tool.invoke", _invoke(telemetry)
        yield "haystack.tools.tool", "Tool.invoke_async", _invoke_async(telemetry)
