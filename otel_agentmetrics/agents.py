"""Agent runs: an ``invoke_agent {name}`` span around everything one run does, with the run's roll-up.

Model and tool spans started inside the run are its children, in the same thread, in asyncio tasks created
inside it, and in threads started through :func:`otel_agentmetrics.carry_context`. When the run ends its span
carries what happened inside: model calls (the "iterations" of an agent loop), tool calls, tokens, dollars and
errors. A nested run counts in its own roll-up and in every enclosing one.

Usage::

    with agentmetrics.agent("research", conversation_id=session_id) as run:
        answer = research(question)
    print(run.model_calls, run.cost)

    @agentmetrics.agent("triage")
    async def triage(ticket): ...
"""

from __future__ import annotations

import threading
from typing import Any

from . import _active, _fork
from . import semconv as sc
from ._context import active_scopes
from ._runs import Scope, SpanRun, Spec
from ._telemetry import Telemetry
from ._viewers import run_content
from .record import CallRecord


class AgentInstruments:
    """The agent-run metrics of one :class:`Telemetry` (created on first use)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.duration = telemetry.meter.create_histogram(
            sc.METRIC_AGENT_DURATION,
            unit="s",
            description="Duration of agent runs, by agent name and error type (its count is the number of runs).",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self.active = telemetry.meter.create_up_down_counter(
            sc.METRIC_AGENTS_ACTIVE, unit="{run}", description="Agent runs in progress."
        )
        self.model_calls = telemetry.meter.create_histogram(
            sc.METRIC_AGENT_MODEL_CALLS,
            unit="{call}",
            description="Model calls per agent run (the iterations of an agent loop), by agent name.",
            explicit_bucket_boundaries_advisory=sc.ITERATION_BUCKETS,
        )
        self.cost = telemetry.meter.create_histogram(
            sc.METRIC_AGENT_COST,
            unit="USD",
            description="Dollars spent by the priced model calls of an agent run, by agent name.",
            explicit_bucket_boundaries_advisory=sc.COST_BUCKETS,
        )


def instruments(telemetry: Telemetry) -> AgentInstruments:
    return telemetry.instruments(AgentInstruments)


class AgentRun(SpanRun, Scope):
    """One agent run in progress; after it ends, its roll-up stays readable here."""

    def __init__(self, telemetry: Telemetry, name: str, attributes: dict[str, Any]) -> None:
        self.name = name
        self.model_calls = 0
        self.tool_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost: float | None = None
        """Dollars spent by the priced model calls inside the run; ``None`` while none was priced."""
        self.unpriced_calls = 0
        self.errors = 0
        self.retrievals = 0
        """Queries and searches of stores and retrievers inside the run (writes are not counted)."""
        self.retrieval_duration = 0.0
        """Seconds spent in those retrievals, summed (overlapping ones count each)."""
        self._input: Any = None
        self._output: Any = None
        """The first model call's input messages and the last one's output (content capture only)."""
        self._lock = threading.Lock()
        _fork.reset_in_child(self)
        # Spans inside the run say which agent (and conversation) they belong to; allow-listing
        # ``gen_ai.agent.name`` in metric_attributes puts it on the model-call metrics too (cost per agent).
        self.span_attributes = {sc.AGENT_NAME: name}
        conversation_id = attributes.get(sc.CONVERSATION_ID)
        if conversation_id:
            self.span_attributes[sc.CONVERSATION_ID] = conversation_id
        super().__init__(telemetry, f"{sc.OP_INVOKE_AGENT} {name}", attributes)
        self.scope = self
        self._labels = {sc.AGENT_NAME: name, **self.metric_labels()}
        instruments(telemetry).active.add(1, self._labels)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def after_call(self, record: CallRecord) -> None:
        with self._lock:
            self.model_calls += 1
            if record.input_tokens is not None:
                self.input_tokens += record.input_tokens
            if record.output_tokens is not None:
                self.output_tokens += record.output_tokens
            if record.cost is not None:
                self.cost = (self.cost or 0.0) + record.cost
            elif record.input_tokens is not None or record.output_tokens is not None:
                self.unpriced_calls += 1
            if record.error_type is not None:
                self.errors += 1
            if record.input_messages and self._input is None:
                self._input = record.input_messages
            if record.output_messages:
                self._output = record.output_messages

    def after_tool(self, name: str, error_type: str | None) -> None:
        with self._lock:
            self.tool_calls += 1
            if error_type is not None:
                self.errors += 1

    def after_retrieval(self, record: Any) -> None:
        with self._lock:
            if record.is_query:
                self.retrievals += 1
                self.retrieval_duration += record.duration or 0.0
            if record.error_type is not None:
                self.errors += 1

    def finish(self, duration: float, result: Any) -> None:
        with self._lock:
            rollup: dict[str, Any] = {
                sc.AGENT_MODEL_CALLS: self.model_calls,
                sc.AGENT_TOOL_CALLS: self.tool_calls,
                sc.AGENT_INPUT_TOKENS: self.input_tokens,
                sc.AGENT_OUTPUT_TOKENS: self.output_tokens,
                sc.AGENT_ERRORS: self.errors,
            }
            if self.retrievals:
                rollup[sc.AGENT_RETRIEVALS] = self.retrievals
                rollup[sc.AGENT_RETRIEVAL_DURATION] = self.retrieval_duration
            if self.cost is not None:
                rollup[sc.AGENT_COST] = self.cost
            if self.unpriced_calls:
                rollup[sc.AGENT_UNPRICED_CALLS] = self.unpriced_calls
            if (self._input or self._output) and self.telemetry.capture.on_span:
                rollup.update(run_content(self._input, self._output))  # viewers' trace lists show these
        self.span.set_attributes(rollup)
        agent_instruments = instruments(self.telemetry)
        agent_instruments.active.add(-1, self._labels)
        attrs = self._labels if self.error_type is None else {**self._labels, sc.ERROR_TYPE: self.error_type}
        agent_instruments.duration.record(duration, attrs)
        agent_instruments.model_calls.record(rollup[sc.AGENT_MODEL_CALLS], attrs)
        if sc.AGENT_COST in rollup:
            agent_instruments.cost.record(rollup[sc.AGENT_COST], attrs)


class agent(Spec):  # noqa: N801 - used like a function: ``with agent("x")`` / ``@agent("x")``
    """Record an agent run: ``with agent("research"):`` or ``@agent("research")`` on a sync or async function.

    Args:
        name: the agent's name (``gen_ai.agent.name``; also the metrics' label, so keep it low-cardinality).
        conversation_id: ``gen_ai.conversation.id``, also put on the model and tool spans inside the run.
        agent_id: ``gen_ai.agent.id``.
        description: ``gen_ai.agent.description``.
    """

    def __init__(
        self,
        name: str,
        *,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        description: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("agent(name): name must be a non-empty string, e.g. agent('research')")
        self.name = name
        self._attributes = _attributes(name, conversation_id, agent_id, description)

    def _begin(self) -> AgentRun:
        return AgentRun(_active.telemetry(), self.name, dict(self._attributes))


def _attributes(
    name: str, conversation_id: str | None, agent_id: str | None, description: str | None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {sc.OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.AGENT_NAME: name}
    for key, value in (
        (sc.AGENT_ID, agent_id),
        (sc.AGENT_DESCRIPTION, description),
        (sc.CONVERSATION_ID, conversation_id),
    ):
        if value is not None:
            attrs[key] = value
    return attrs


def start_agent(
    telemetry: Telemetry,
    name: str,
    conversation_id: str | None = None,
    agent_id: str | None = None,
    description: str | None = None,
    default_name: bool = False,
) -> AgentRun | None:
    """Open a run for a framework's agent, or ``None`` when the innermost run already is this one: it has the
    same name (the user wrapped the framework's run in ``agent()`` with that name: one span, not two), or
    ``default_name`` says the name is the framework's placeholder, not one the user chose (a LangGraph graph
    left named ``LangGraph`` inside ``agent("research")``, or a subgraph inside its parent graph's run)."""
    for scope in reversed(active_scopes.get()):
        if isinstance(scope, AgentRun):
            if (default_name or scope.name == name) and not scope.ended:
                return None
            break
    return AgentRun(telemetry, name, _attributes(name, conversation_id, agent_id, description))
