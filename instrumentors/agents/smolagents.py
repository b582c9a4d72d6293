"""smolagents: an ``invoke_agent {name}`` span, with the run's roll-up, for every run of an agent (``run``, streamed
or not: both drive ``MultiStepAgent._run_stream``), and an ``execute_tool`` span for every tool it calls.

A ``ToolCallingAgent``'s tool calls carry the model's tool-call id (read from the model's message where the agent
starts executing it, matched by name and arguments); a ``CodeAgent``'s tools, called from the code the model wrote,
are ``Tool.__call__`` spans without one. A managed agent is a tool of its manager: its run nests inside the
manager's ``execute_tool {name}`` span. The ``final_answer`` tool, the model's way to end a run in smolagents, is
not a tool run (its model call is the run's last).
An agent without a name is ``agent`` and, inside an enclosing run, part of that run.

Model calls are the client instrumentors' spans (``OpenAIServerModel``/``OpenAIModel`` -> ``openai``,
``LiteLLMModel`` -> ``litellm``, ``AzureOpenAIServerModel`` -> ``openai``). smolagents wraps a tool's exception in
``AgentToolExecutionError`` and hands it to the model; the tool span fails with the original exception's class.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics._agent_layer import fail_open, iter_run_wrapper, text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import sync_tool_wrapper
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.tools import ToolRun, start_tool

DEFAULT_NAME = "agent"

# The tool calls of each agent's latest model message not executed yet: (name, arguments, id). The agent runs
# them from threads when there are several, so a lock guards the lists.
_pending: weakref.WeakKeyDictionary[Any, list[tuple[str, Any, str]]] = weakref.WeakKeyDictionary()
_pending_lock = threading.Lock()


@fail_open("opening a smolagents run")
def _open(telemetry: Telemetry, agent: Any, *_: Any) -> AgentRun | None:
    name = text(getattr(agent, "name", None))
    return start_agent(
        telemetry,
        name or DEFAULT_NAME,
        description=text(getattr(agent, "description", None)),
        default_name=name is None,
    )


def _process_tool_calls(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Before a ``ToolCallingAgent`` executes the tool calls of a model message: note their ids."""
    try:
        message: Any = args[0] if args else kwargs.get("chat_message")
        calls = [(c.function.name, c.function.arguments, c.id) for c in message.tool_calls or ()]
        with _pending_lock:
            _pending[instance] = calls
    except Exception:
        internal_error("reading smolagents tool calls")
    return wrapped(*args, **kwargs)


def _call_id(agent: Any, name: str, arguments: Any) -> str | None:
    with _pending_lock:
        calls = _pending.get(agent) or []
        for index, (pending_name, pending_arguments, call_id) in enumerate(calls):
            if pending_name == name and (pending_arguments is arguments or pending_arguments == arguments):
                del calls[index]
                return text(call_id)
    return None


def _open_tool(telemetry: Telemetry, agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolRun | None:
    try:
        name = args[0] if args else kwargs["tool_name"]
        arguments = args[1] if len(args) > 1 else kwargs.get("arguments")
        tool = {**agent.tools, **agent.managed_agents}.get(name)
        if _is_final_answer(tool):
            return None
        description = text(getattr(tool, "description", None))
        call_id = _call_id(agent, name, arguments)
        captured = arguments if telemetry.capture.enabled else None
        return start_tool(name, description, call_id, captured, telemetry=telemetry)
    except Exception:
        internal_error("reading a smolagents tool call")
        return None


def _execute_tool_call(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open_tool(telemetry, instance, args, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        with run.activate():
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as error:
                # ``AgentToolExecutionError`` from the tool's own exception: the span says what the tool raised.
                cause = error.__cause__
                run.fail(cause if type(error).__name__ == "AgentToolExecutionError" and cause is not None else error)
                raise
        run.end(result)
        return result

    return traced


def _is_final_answer(tool: Any) -> bool:
    return type(tool).__name__ == "FinalAnswerTool"


def _tool_call(telemetry: Telemetry) -> Callable[..., Any]:
    traced_call = sync_tool_wrapper(telemetry, _describe)

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _is_final_answer(instance):
            return wrapped(*args, **kwargs)
        return traced_call(wrapped, instance, args, kwargs)

    return traced


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    kwargs = {key: value for key, value in kwargs.items() if key != "sanitize_inputs_outputs"}
    return instance.name, getattr(instance, "description", None), None, kwargs or (list(args) if args else None)


class SmolagentsInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``smolagents`` agent runs and tool calls."""

    dependencies: Collection[str] = ("smolagents >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # A generator, like smolagents': nothing is opened until the caller starts iterating.
        yield "smolagents.agents", "MultiStepAgent._run_stream", iter_run_wrapper(telemetry, _open)
        yield "smolagents.agents", "ToolCallingAgent.process_tool_calls", _process_tool_calls
        yield "smolagents.agents", "ToolCallingAgent.execute_tool_call", _execute_tool_call(telemetry)
        # A CodeAgent's code calls its tools directly (inside a ToolCallingAgent's call: the same run, one span).
        yield "smolagents.tools", "Tool.__call__", _tool_call(telemetry)
