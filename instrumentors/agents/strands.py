"""Strands Agents: an ``invoke_agent {name}`` span, with the run's roll-up, for every agent run (``agent(...)``,
``invoke_async``, ``stream_async``: all drive ``Agent.stream_async``) and every ``Swarm``/``Graph`` run (named by
its ``id``), and an ``execute_tool`` span for every tool the agent runs, with the model's tool-use id.

A swarm's or graph's nodes are agents: their runs nest inside the swarm's (graph's). Model calls are the client
instrumentors' spans (``OpenAIModel`` -> ``openai``, ``AnthropicModel`` -> ``anthropic``, ``BedrockModel`` ->
``boto3``, ``LiteLLMModel`` -> ``litellm``, ``GeminiModel`` -> ``google-genai``). Strands turns a tool's exception
into an error result for the model; the tool span still fails with the exception's class name.

Strands traces itself on the global tracer provider (``invoke_agent``, ``chat``, ``execute_tool``,
``execute_event_loop_cycle`` and ``invoke_swarm``/``invoke_graph`` spans) whenever one is set. While this
instrumentor is on, those spans of Strands' are not started (Strands gets a non-recording span in their place):
ours stand for them, one agent span per run and one span per model call, with tokens, dollars and the roll-up,
the same tree whether Strands' tracing is on or off; an agent's ``trace_attributes`` go on our agent span.
Strands' own metrics (``strands.*``) are left as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics._agent_layer import aiter_run_wrapper, not_started, text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import _aiterate
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.tools import ToolRun, start_tool

DEFAULT_NAMES = {"Strands Agents", "default_swarm", "default_graph"}  # Strands' defaults, not a user's choice
_DEFAULT_AGENT_ID = "default"
_STRANDS_SPANS = (
    "start_agent_span",
    "start_model_invoke_span",
    "start_tool_call_span",
    "start_event_loop_cycle_span",
    "start_multiagent_span",
)


def _open_agent(telemetry: Telemetry, agent: Any, *_: Any) -> AgentRun | None:
    try:
        name = text(getattr(agent, "name", None)) or "agent"
        agent_id = text(getattr(agent, "agent_id", None))
        run = start_agent(
            telemetry,
            name,
            agent_id=agent_id if agent_id != _DEFAULT_AGENT_ID else None,
            description=text(getattr(agent, "description", None)),
            default_name=name in DEFAULT_NAMES,
        )
    except Exception:
        internal_error("opening a Strands agent run")
        return None
    _keep_trace_attributes(run, agent)
    return run


def _keep_trace_attributes(run: AgentRun | None, owner: Any) -> None:
    """The agent's (swarm's, graph's) ``trace_attributes``, which Strands would put on its own span: on ours."""
    try:
        attributes = getattr(owner, "trace_attributes", None)
        if run is not None and attributes:
            run.span.set_attributes({key: value for key, value in dict(attributes).items() if isinstance(key, str)})
    except Exception:
        internal_error("reading Strands trace_attributes")


def _open_team(telemetry: Telemetry, team: Any, *_: Any) -> AgentRun | None:
    try:
        name = text(getattr(team, "id", None)) or type(team).__name__.lower()
        run = start_agent(telemetry, name, default_name=name in DEFAULT_NAMES)
    except Exception:
        internal_error("opening a Strands multi-agent run")
        return None
    _keep_trace_attributes(run, team)
    return run


def _open_tool(telemetry: Telemetry, ctx: Any) -> ToolRun | None:
    try:
        tool_use = ctx.tool_use
        spec = getattr(ctx.tool, "tool_spec", None) or {}
        arguments = tool_use.get("input") if telemetry.capture.enabled else None
        call_id = tool_use.get("toolUseId")
        return start_tool(
            str(tool_use["name"]),
            text(spec.get("description")),
            str(call_id) if call_id else None,
            arguments,
            telemetry=telemetry,
        )
    except Exception:
        internal_error("reading a Strands tool call")
        return None


def _run_tool(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _tool_events(telemetry, wrapped, args, kwargs)

    return traced


async def _tool_events(
    telemetry: Telemetry, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    """Strands' ``_run_tool``: the tool's events, the last a ``ToolResultEvent`` (an error result, with the
    exception, when the tool raised)."""
    run = _open_tool(telemetry, args[0] if args else kwargs.get("ctx"))
    if run is None:
        events = wrapped(*args, **kwargs)
    else:
        with run.activate():
            events = _aiterate(run, wrapped(*args, **kwargs), False)
    try:
        async for event in events:
            if run is not None and type(event).__name__ == "ToolResultEvent":
                _note_result(run, event)
            yield event
    finally:
        await events.aclose()


def _note_result(run: ToolRun, event: Any) -> None:
    try:
        error = getattr(event, "exception", None)
        if isinstance(error, BaseException):
            run.report_error(type(error).__qualname__)
        elif (getattr(event, "tool_result", None) or {}).get("status") == "error":
            run.report_error("tool_error")
    except Exception:
        internal_error("reading a Strands tool result")


class StrandsInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``strands-agents`` agent, swarm and graph runs and tool calls."""

    dependencies: Collection[str] = ("strands-agents >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # Async generators, like Strands': nothing is opened until the caller starts iterating.
        yield "strands.agent.agent", "Agent.stream_async", aiter_run_wrapper(telemetry, _open_agent)
        yield "strands.multiagent.swarm", "Swarm.stream_async", aiter_run_wrapper(telemetry, _open_team)
        yield "strands.multiagent.graph", "Graph.stream_async", aiter_run_wrapper(telemetry, _open_team)
        yield "strands.tools.executors._executor", "_run_tool", _run_tool(telemetry)
        for method in _STRANDS_SPANS:
            yield "strands.telemetry.tracer", f"Tracer.{method}", not_started  # ours stands for it
