"""Google ADK: an ``invoke_agent {name}`` span, with the run's roll-up, for every agent run (``BaseAgent.run_async``,
behind ``Runner.run``/``run_async`` and every sub-agent, workflow agent and agent transfer), and an ``execute_tool``
span for every tool an agent calls, with the function-call id.

Sub-agents (``sub_agents=[...]``, ``SequentialAgent``, ``ParallelAgent``, ``LoopAgent``, a transfer) run inside
their parent's run: nested agent runs, counted in every enclosing roll-up. The session id is
``gen_ai.conversation.id``. Model calls are the client instrumentors' spans (``Gemini`` -> ``google-genai``,
``Claude`` -> ``anthropic``, ``LiteLlm`` -> ``litellm``). A tool's exception fails its span with the class name
(ADK re-raises it unless an ``on_tool_error_callback`` answers for the tool).

ADK traces itself on the global tracer provider (``invocation``, ``invoke_agent``, ``call_llm``,
``execute_tool`` spans) whenever one is set. While this instrumentor is on, ADK's tracer starts non-recording
spans that keep the current context (ours stand for its agent and tool spans, the client's for its model calls),
so a run is one agent span and a model call one span whether ADK's tracing is on or off. ADK's metrics are left
as they are.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable
from typing import Any

from wrapt import register_post_import_hook

from otel_agentmetrics._agent_layer import StandInTracer, aiter_run_wrapper, fail_open, text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import acall
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.tools import start_tool

# The modules that hold ADK's tracer: ``tracing`` made it, the others imported it by name.
_TRACER_MODULES = (
    "google.adk.telemetry.tracing",
    "google.adk.telemetry",
    "google.adk.telemetry.node_tracing",
    "google.adk.runners",
    "google.adk.agents._managed_agent",
    "google.adk.flows.llm_flows.tools._batch_executor",
    "google.adk.apps.compaction",
    "google.adk.live._live_llm_flow",
)


@fail_open("opening an ADK agent run")
def _open(telemetry: Telemetry, agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AgentRun | None:
    context = args[0] if args else kwargs.get("parent_context")
    session = getattr(context, "session", None)
    return start_agent(
        telemetry,
        text(getattr(agent, "name", None)) or "agent",
        text(getattr(session, "id", None)),
        description=text(getattr(agent, "description", None)),
    )


def _call_tool(telemetry: Telemetry) -> Callable[..., Any]:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = None
        try:
            tool = args[0] if args else kwargs["tool"]
            arguments = args[1] if len(args) > 1 else kwargs.get("args")
            tool_context = args[2] if len(args) > 2 else kwargs.get("tool_context")
            run = start_tool(
                str(tool.name),
                text(getattr(tool, "description", None)),
                text(getattr(tool_context, "function_call_id", None)),
                arguments if telemetry.capture.enabled else None,
                telemetry=telemetry,
            )
        except Exception:
            internal_error("reading an ADK tool call")
        if run is None:
            return await wrapped(*args, **kwargs)
        return await acall(run, wrapped, args, kwargs)

    return traced


class ADKInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``google-adk`` agent runs and tool calls."""

    dependencies: Collection[str] = ("google-adk >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # An async generator, like ADK's: nothing is opened until the caller starts iterating.
        yield "google.adk.agents.base_agent", "BaseAgent.run_async", aiter_run_wrapper(telemetry, _open)
        # Where a tool runs; the live (bidi) caller and the ``functions`` module hold their own references to it.
        for module in ("_caller", "_live_caller"):
            yield f"google.adk.flows.llm_flows.tools.{module}", "_call_tool_async", _call_tool(telemetry)
        yield "google.adk.flows.llm_flows.functions", "_call_tool_async", _call_tool(telemetry)

    def _instrument(self, **kwargs: Any) -> None:
        super()._instrument(**kwargs)
        if not self._active:
            return  # a bad setting under opentelemetry-instrument: nothing patched, nothing to swap
        self._tracers: list[tuple[Any, Any]] = []
        self._stand_in = StandInTracer()
        for name in _TRACER_MODULES:
            if name in sys.modules:
                self._swap_tracer(sys.modules[name])
            else:
                register_post_import_hook(self._on_import(self._generation), name)

    def _on_import(self, generation: int) -> Callable[[Any], None]:
        def on_import(module: Any) -> None:
            # Import hooks cannot be removed: a hook left from before uninstrument() does nothing.
            if self._generation == generation and self._is_instrumented_by_opentelemetry:
                self._swap_tracer(module)

        return on_import

    def _swap_tracer(self, module: Any) -> None:
        original = module.__dict__.get("tracer")
        if original is None or isinstance(original, StandInTracer):
            return
        module.tracer = self._stand_in
        self._tracers.append((module, original))

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, original in reversed(getattr(self, "_tracers", [])):
            module.tracer = original
        self._tracers = []
        super()._uninstrument(**kwargs)
