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

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from typing import Any

from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import _aiterate, _iterate, acall, call
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from .langchain import pending_call_id

DEFAULT_NAME = "AgentExecutor"


def _open(telemetry: Telemetry, executor: Any) -> AgentRun | None:
    try:
        name = getattr(executor, "name", None)
        if not isinstance(name, str) or not name:
            name = DEFAULT_NAME
        return start_agent(telemetry, name, default_name=name == DEFAULT_NAME)
    except Exception:
        internal_error("opening a LangChain AgentExecutor run")
        return None


def _call(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open(telemetry, instance)
        if run is None:
            return wrapped(*args, **kwargs)
        return call(run, wrapped, args, kwargs)

    return traced


def _acall(telemetry: Telemetry) -> Callable[..., Any]:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open(telemetry, instance)
        if run is None:
            return await wrapped(*args, **kwargs)
        return await acall(run, wrapped, args, kwargs)

    return traced


def _iter(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _run_iter(telemetry, wrapped, instance, args, kwargs)

    return traced


def _run_iter(
    telemetry: Telemetry, wrapped: Callable[..., Any], iterator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[Any]:
    run = _open(telemetry, getattr(iterator, "agent_executor", None))
    if run is None:
        return (yield from wrapped(*args, **kwargs))
    with run.activate():
        steps = wrapped(*args, **kwargs)
    return (yield from _iterate(run, steps, False))


def _aiter(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _run_aiter(telemetry, wrapped, instance, args, kwargs)

    return traced


async def _run_aiter(
    telemetry: Telemetry, wrapped: Callable[..., Any], iterator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    run = _open(telemetry, getattr(iterator, "agent_executor", None))
    if run is None:
        steps = wrapped(*args, **kwargs)
    else:
        with run.activate():
            steps = _aiterate(run, wrapped(*args, **kwargs), False)
    try:
        async for step in steps:
            yield step
    finally:  # closed early: close the executor's iteration now, as a caller closing it directly would
        await steps.aclose()


def _call_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    action = args[2] if len(args) > 2 else kwargs.get("agent_action")
    call_id = getattr(action, "tool_call_id", None)  # ``ToolAgentAction`` (tool-calling agents) has it
    return call_id if isinstance(call_id, str) and call_id else None


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
        yield "langchain_classic.agents.agent", "AgentExecutor._call", _call(telemetry)
        yield "langchain_classic.agents.agent", "AgentExecutor._acall", _acall(telemetry)
        yield "langchain_classic.agents.agent_iterator", "AgentExecutorIterator.__iter__", _iter(telemetry)
        yield "langchain_classic.agents.agent_iterator", "AgentExecutorIterator.__aiter__", _aiter(telemetry)
        # Where one tool of a model's answer runs: its ``ToolAgentAction`` holds the model's tool-call id.
        yield "langchain_classic.agents.agent", "AgentExecutor._perform_agent_action", _perform
        yield "langchain_classic.agents.agent", "AgentExecutor._aperform_agent_action", _aperform
