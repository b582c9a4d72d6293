"""LangChain's legacy ``AgentExecutor`` (``langchain-classic``): an ``invoke_agent {name}`` span, with the run's
roll-up, for every run of the executor's loop.

``invoke``/``ainvoke``/``__call__``/``run``/``batch`` all go through ``AgentExecutor._call`` / ``_acall``;
``stream``/``astream`` and ``iter`` drive an ``AgentExecutorIterator`` instead, whose ``__iter__``/``__aiter__``
are wrapped so the span covers the whole iteration (ended when it is exhausted, closed early or fails). The name is
the executor's ``name`` when given, else ``AgentExecutor``; an executor left so named inside another agent run
(your ``agentmetrics.agent(...)``, a LangGraph node) is part of that run.

Model calls are the client instrumentors' spans (``ChatOpenAI`` -> ``openai``) or the ``langchain`` layer's for a
chat model no client instrumentor sees; tools are the ``langchain`` instrumentor's ``execute_tool`` spans, given
the model's tool-call id from the executor's ``ToolAgentAction`` (the executor runs tools without it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from otel_agentmetrics._agent_layer import (
    aiter_run_wrapper,
    async_run_wrapper,
    fail_open,
    iter_run_wrapper,
    sync_run_wrapper,
    text,
)
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from .langchain import pending_call_id

DEFAULT_NAME = "AgentExecutor"


@fail_open("opening a LangChain AgentExecutor run")
def _open(telemetry: Telemetry, executor: Any, *_: Any) -> AgentRun | None:
    name = getattr(executor, "name", None)
    if not isinstance(name, str) or not name:
        name = DEFAULT_NAME
    return start_agent(telemetry, name, default_name=name == DEFAULT_NAME)


def _open_iterator(telemetry: Telemetry, iterator: Any, *_: Any) -> AgentRun | None:
    return _open(telemetry, getattr(iterator, "agent_executor", None))


def _call_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    action = args[2] if len(args) > 2 else kwargs.get("agent_action")
    call_id = getattr(action, "tool_call_id", None)  # ``ToolAgentAction`` (tool-calling agents) has it
    return text(call_id)


def _perform(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Around the executor's run of one tool: the model's tool-call id is handed to the tool run below."""
    try:
        token = pending_call_id.set(_call_id(args, kwargs))
    except Exception:
        internal_error("reading a LangChain agent action")
        return wrapped(*args, **kwargs)
    try:
        return wrapped(*args, **kwargs)
    finally:
        pending_call_id.reset(token)


async def _aperform(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        token = pending_call_id.set(_call_id(args, kwargs))
    except Exception:
        internal_error("reading a LangChain agent action")
        return await wrapped(*args, **kwargs)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        pending_call_id.reset(token)


class LangChainClassicInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``langchain-classic``'s ``AgentExecutor`` as an agent run."""

    dependencies: Collection[str] = ("langchain-classic >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "langchain_classic.agents.agent", "AgentExecutor._call", sync_run_wrapper(telemetry, _open)
        yield "langchain_classic.agents.agent", "AgentExecutor._acall", async_run_wrapper(telemetry, _open)
        iterator = "langchain_classic.agents.agent_iterator"
        yield iterator, "AgentExecutorIterator.__iter__", iter_run_wrapper(telemetry, _open_iterator)
        yield iterator, "AgentExecutorIterator.__aiter__", aiter_run_wrapper(telemetry, _open_iterator)
        # Where one tool of a model's answer runs: its ``ToolAgentAction`` holds the model's tool-call id.
        yield "langchain_classic.agents.agent", "AgentExecutor._perform_agent_action", _perform
        yield "langchain_classic.agents.agent", "AgentExecutor._aperform_agent_action", _aperform
