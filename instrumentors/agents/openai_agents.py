"""OpenAI Agents SDK: an ``invoke_agent`` span for every ``Runner.run`` / ``run_sync`` (with the roll-up of its
model and tool calls) and an ``execute_tool`` span for every function tool the runner invokes, with the model's
tool-call id, so the tool span links to the model call that asked for it. ``Runner.run_streamed`` returns before
the run ends: its agent span covers the SDK's background task that runs the agent, and ends with it.

The SDK turns a tool's exception into a message for the model by default; the span still records the failure
(``error.type`` = the exception's class name). Model calls are traced by the ``openai`` instrumentor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics._agent_layer import async_run_wrapper
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper, report_error
from otel_agentmetrics.agents import start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

# The runner and the realtime session both invoke function tools through this function; the runner's module
# holds its own reference, so both names are patched (the same tool run is never opened twice: see tools.py).
_INVOKERS = ("agents.tool", "agents.run_internal.tool_execution")


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    tool = kwargs["function_tool"]
    context = kwargs.get("context")
    return tool.name, tool.description, getattr(context, "tool_call_id", None), kwargs.get("arguments")


def _output(result: Any) -> Any:
    # ``_FunctionToolInvocationResult``: the tool's output plus whether the SDK made it from an error.
    return getattr(result, "output", result)


def _note_failure(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    error = kwargs.get("error")
    if isinstance(error, BaseException):
        report_error(type(error).__qualname__)
    return wrapped(*args, **kwargs)


def _open_run(telemetry: Telemetry, starting_agent: Any, kwargs: dict[str, Any], what: str) -> Any:
    """The agent run of one ``Runner`` call, or ``None`` (fail open: the user's run goes on untraced)."""
    try:
        conversation_id = kwargs.get("conversation_id")
        return start_agent(
            telemetry,
            getattr(starting_agent, "name", None) or "agent",
            conversation_id if isinstance(conversation_id, str) else None,
            description=getattr(starting_agent, "handoff_description", None) or None,
        )
    except Exception:
        internal_error(what)
        return None


def _open_runner(telemetry: Telemetry, runner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``AgentRunner.run(starting_agent, input, ...)``."""
    starting_agent = args[0] if args else kwargs.get("starting_agent")
    return _open_run(telemetry, starting_agent, kwargs, "opening an Agents SDK run")


def _streamed_loop(telemetry: Telemetry) -> Callable[..., Any]:
    """``Runner.run_streamed`` returns at once and runs the agent in a task driving ``start_streaming``: the
    agent span covers that task, so it ends when the run does (the caller's events are read meanwhile)."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = kwargs.get("streamed_result")
        run = _open_run(telemetry, kwargs.get("starting_agent"), kwargs, "opening an Agents SDK streamed run")
        if run is None:
            return await wrapped(*args, **kwargs)
        with run.activate():
            try:
                outcome = await wrapped(*args, **kwargs)
            except BaseException as error:
                run.fail(error)
                raise
        # A failure the SDK stores on the result (raised to the reader of the events) ends the run as failed;
        # so does a run that went past ``max_turns``, which the SDK tells the reader when it sees the count.
        stored = getattr(result, "_stored_exception", None)
        if isinstance(stored, BaseException):
            run.fail(stored)
            return outcome
        try:
            max_turns, turn = getattr(result, "max_turns", None), getattr(result, "current_turn", 0)
            if isinstance(max_turns, int) and isinstance(turn, int) and turn > max_turns:
                run.error_type = "MaxTurnsExceeded"
        except Exception:
            internal_error("reading an Agents SDK streamed result")
        run.end()
        return outcome

    return traced


class OpenAIAgentsInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``openai-agents`` package's function tools."""

    dependencies: Collection[str] = ("openai-agents >= 0.24",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "agents.run", "AgentRunner.run", async_run_wrapper(telemetry, _open_runner)
        yield "agents.run", "start_streaming", _streamed_loop(telemetry)
        invoke = async_tool_wrapper(telemetry, _describe, _output)
        for module in _INVOKERS:
            yield module, "_invoke_function_tool_with_metadata", invoke
            yield module, "maybe_invoke_function_tool_failure_error_function", _note_failure
