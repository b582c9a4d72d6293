"""LangGraph: an ``invoke_agent {graph name}`` span, with the run's roll-up, for every run of a compiled graph.

``invoke``/``ainvoke`` drive ``stream``/``astream``, so patching the two streams covers all four (and
``batch``, ``stream_events``...). The span covers the whole iteration: it opens at the first step and ends when
the stream is exhausted, closed early or fails. A graph still named ``LangGraph`` (the default) inside another
agent run is part of that run (a subgraph of its parent, or a graph the user wrapped in ``agent()``) and gets no
span of its own; a graph given its own name (``create_react_agent(..., name="researcher")``) is an agent of its
own, nested under the enclosing run. ``configurable.thread_id`` becomes ``gen_ai.conversation.id``.

Model calls are the client instrumentors' spans (``ChatOpenAI`` -> ``openai``); tools are the ``langchain``
instrumentor's. This module only adds the agent run around them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from otel_agentmetrics._agent_layer import aiter_run_wrapper, fail_open, iter_run_wrapper
from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

DEFAULT_NAME = "LangGraph"  # what ``Pregel.name`` is when the graph was compiled without a name


def _conversation_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    config = args[1] if len(args) > 1 else kwargs.get("config")
    if not isinstance(config, dict):
        return None
    configurable = config.get("configurable")
    thread_id = configurable.get("thread_id") if isinstance(configurable, dict) else None
    return str(thread_id) if thread_id is not None and thread_id != "" else None


@fail_open("opening a LangGraph run")
def _open(telemetry: Telemetry, graph: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AgentRun | None:
    name = getattr(graph, "name", None)
    if not isinstance(name, str) or not name:
        name = DEFAULT_NAME
    return start_agent(telemetry, name, _conversation_id(args, kwargs), default_name=name == DEFAULT_NAME)


class LangGraphInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``langgraph`` compiled graphs (``Pregel``) as agent runs."""

    dependencies: Collection[str] = ("langgraph >= 0.2",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        # Generators, like ``Pregel.stream`` itself: nothing is opened until the caller starts iterating.
        yield "langgraph.pregel.main", "Pregel.stream", iter_run_wrapper(telemetry, _open)
        yield "langgraph.pregel.main", "Pregel.astream", aiter_run_wrapper(telemetry, _open)
