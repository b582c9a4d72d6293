"""AutoGen AgentChat (``autogen-agentchat``): agent runs, team runs and tool calls, one span each, ours.

AutoGen traces itself: ``autogen_core``'s ``trace_invoke_agent_span`` (around ``BaseChatAgent.run`` /
``run_stream``, and around each turn a team gives an agent) and ``trace_tool_span`` (around ``BaseTool.run_json``
/ ``run_json_stream`` and an MCP workbench's calls) open GenAI spans on the global tracer provider, which under
``instrument()`` is ours, so every agent and tool would be counted twice. Where AgentChat and its tools use these
two helpers, ours take their place: the same points, the same names, ids and descriptions, but ours are agent runs
with the roll-up (``invoke_agent {agent name}``, ``gen_ai.agent.id`` the team container's id,
``gen_ai.agent.description``) and tool runs with the model's tool-call id (``execute_tool {tool name}``). Their
``create_agent`` span (an agent's construction) and the runtime's messaging spans are not GenAI runs and stay.

A team (``RoundRobinGroupChat``, ``SelectorGroupChat``, ``Swarm``, ...) is an agent run of its own around
``run`` / ``run_stream``, named after the team (``RoundRobinGroupChat`` by default); each turn of an agent in it
is a nested run. Model calls are the client instrumentors' spans (``OpenAIChatCompletionClient`` -> ``openai``).
A tool's exception, which the agent hands to the model as an error result, still fails the tool span.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from opentelemetry import trace

from otel_agentmetrics._agent_layer import aiter_run_wrapper, fail_open, text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import SpanRun
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.tools import start_tool


@contextmanager
def _ours(run: SpanRun | None) -> Iterator[Any]:
    """Run the ``with`` block inside ``run`` (current span and scope), yielding its span as theirs did."""
    if run is None:
        yield trace.get_current_span()
        return
    activation = run.activate()
    activation.__enter__()
    try:
        yield run.span
    except BaseException as error:
        run.fail(error)
        raise
    else:
        run.end()
    finally:
        # ValueError: the block (inside an async generator) was left in another context than it was entered in.
        with suppress(ValueError):
            activation.__exit__(None, None, None)


def _agent_span(telemetry: Telemetry) -> Callable[..., Any]:
    """In place of ``trace_invoke_agent_span(agent_name, *, tracer, parent, agent_id, agent_description)``."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            name = kwargs.get("agent_name", args[0] if args else None)
            agent_id, description = kwargs.get("agent_id"), kwargs.get("agent_description")
            run = start_agent(
                telemetry,
                text(name) or "agent",
                agent_id=agent_id if isinstance(agent_id, str) else None,
                description=text(description),
            )
        except Exception:
            internal_error("opening an AutoGen agent run")
            return wrapped(*args, **kwargs)
        return _ours(run)

    return traced


def _tool_span(telemetry: Telemetry) -> Callable[..., Any]:
    """In place of ``trace_tool_span(tool_name, *, tracer, parent, tool_description, tool_call_id)``."""

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            name = kwargs.get("tool_name", args[0] if args else None)
            description, call_id = kwargs.get("tool_description"), kwargs.get("tool_call_id")
            run = start_tool(
                text(name) or "tool",
                text(description),
                text(call_id),
                telemetry=telemetry,
            )
        except Exception:
            internal_error("opening an AutoGen tool run")
            return wrapped(*args, **kwargs)
        return _ours(run)

    return traced


@fail_open("opening an AutoGen team run")
def _open_team(telemetry: Telemetry, team: Any, *_: Any) -> AgentRun | None:
    name = getattr(team, "name", None)
    description = getattr(team, "description", None)
    return start_agent(
        telemetry,
        text(name) or type(team).__name__,
        description=text(description),
    )


class AutoGenInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``autogen-agentchat`` agents, teams and tools."""

    dependencies: Collection[str] = ("autogen-agentchat >= 0.4",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        agent_span, tool_span = _agent_span(telemetry), _tool_span(telemetry)
        yield "autogen_agentchat.agents._base_chat_agent", "trace_invoke_agent_span", agent_span
        yield "autogen_agentchat.teams._group_chat._chat_agent_container", "trace_invoke_agent_span", agent_span
        yield "autogen_core.tools._base", "trace_tool_span", tool_span
        yield "autogen_ext.tools.mcp._workbench", "trace_tool_span", tool_span
        yield (
            "autogen_agentchat.teams._group_chat._base_group_chat",
            "BaseGroupChat.run_stream",
            aiter_run_wrapper(telemetry, _open_team),  # the agents' turns are started inside: the team's run
        )
