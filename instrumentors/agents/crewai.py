"""CrewAI: an ``invoke_agent {crew name}`` span for every crew run (``kickoff``, ``akickoff``, ``kickoff_async``),
an ``invoke_agent {agent role}`` span for each task an agent executes, nested in it, each with its roll-up, and an
``execute_tool`` span for every tool run.

CrewAI's native providers call the ``openai`` (or ``anthropic``...) client, whose instrumentor records each model
call; models reached through LiteLLM are recorded by the ``litellm`` instrumentor. CrewAI turns a tool's
exception into a message for the model; the tool span still fails with the exception's class name. The model's
tool-call id is read where CrewAI executes a native tool call and handed to the tool run below it, so the tool
span links to the model call that asked for it (text-parsed ReAct tool calls have no id).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar
from typing import Any

from otel_agentmetrics._agent_layer import async_run_wrapper, fail_open, sync_run_wrapper, text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper, sync_tool_wrapper
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

DEFAULT_CREW_NAME = "crew"  # ``Crew.name``'s default
_call_id: ContextVar[str | None] = ContextVar("agentmetrics_crewai_tool_call_id", default=None)


@fail_open("opening a CrewAI crew run")
def _open_crew(telemetry: Telemetry, crew: Any, *_: Any) -> AgentRun | None:
    name = getattr(crew, "name", None)
    if not isinstance(name, str) or not name:
        name = DEFAULT_CREW_NAME
    return start_agent(telemetry, name, default_name=name == DEFAULT_CREW_NAME)


@fail_open("opening a CrewAI agent run")
def _open_agent(telemetry: Telemetry, agent: Any, *_: Any) -> AgentRun | None:
    role = getattr(agent, "role", None)
    goal = getattr(agent, "goal", None)
    agent_id = getattr(agent, "id", None)
    return start_agent(
        telemetry,
        text(role) or "agent",
        agent_id=str(agent_id) if agent_id is not None else None,
        description=text(goal),
    )


def _native_tool_call(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Around CrewAI's execution of one native tool call: its id is the current tool-call id meanwhile."""
    call_id = None
    try:
        from crewai.utilities.agent_utils import extract_tool_call_info

        info = extract_tool_call_info(args[0] if args else kwargs.get("tool_call"))
        call_id = info[0] if info and isinstance(info[0], str) and info[0] else None
    except Exception:
        internal_error("reading a CrewAI tool call")
    token = _call_id.set(call_id)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _call_id.reset(token)


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    arguments = kwargs or (list(args) if args else None)
    return instance.name, getattr(instance, "description", None), _call_id.get(), arguments


class CrewAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``crewai`` crews, agents' tasks and tools."""

    dependencies: Collection[str] = ("crewai >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # ``kickoff_async`` runs ``kickoff`` in a thread (``asyncio.to_thread`` carries the context).
        yield "crewai.crew", "Crew.kickoff", sync_run_wrapper(telemetry, _open_crew)
        yield "crewai.crew", "Crew.akickoff", async_run_wrapper(telemetry, _open_crew)
        yield "crewai.agent.core", "Agent.execute_task", sync_run_wrapper(telemetry, _open_agent)
        yield "crewai.agent.core", "Agent.aexecute_task", async_run_wrapper(telemetry, _open_agent)
        # Native tool calls are executed here (the step executor imported the function by name: both are patched).
        yield "crewai.utilities.agent_utils", "execute_single_native_tool_call", _native_tool_call
        yield "crewai.agents.step_executor", "execute_single_native_tool_call", _native_tool_call
        yield "crewai.agents.agent_executor", "AgentExecutor._execute_single_native_tool_call", _native_tool_call
        # ``@tool`` functions are ``Tool`` objects, which run their function without ``BaseTool.run``.
        for owner in ("BaseTool", "Tool"):
            yield "crewai.tools.base_tool", f"{owner}.run", sync_tool_wrapper(telemetry, _describe)
            yield "crewai.tools.base_tool", f"{owner}.arun", async_tool_wrapper(telemetry, _describe)
