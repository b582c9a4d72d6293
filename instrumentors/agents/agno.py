"""Agno: an ``invoke_agent {name}`` span, with the run's roll-up, for every run of an ``Agent`` or a ``Team``
(``run`` and ``arun``, streamed or not), and an ``execute_tool`` span for every function call it executes, with
the model's tool-call id.

``Agent.run``/``arun`` hand the run to ``agno.agent._run``'s ``_run``, ``_run_stream``, ``_arun`` and
``_arun_stream`` (a team's to ``agno.team._run``'s): those four are patched, so a streamed run's span covers the
whole iteration and ends when the stream is exhausted, closed early or fails. A team's members run through their
own ``run``/``arun`` inside the team's delegation tool: nested agent runs. An agent without a name is ``agent``
(a team ``team``) and, inside an enclosing run, part of that run. ``session_id`` is ``gen_ai.conversation.id``.

Model calls are the client instrumentors' spans (``OpenAIChat``/``OpenAILike`` -> ``openai``, ``Claude`` ->
``anthropic``, ``Gemini`` -> ``google-genai``, ``AwsBedrock`` -> ``boto3``, ``LiteLLM`` -> ``litellm``). Agno
turns a tool's exception into a failed result for the model; the tool span still fails with the exception's class
name (read where Agno logs it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar
from functools import partial
from typing import Any

from otel_agentmetrics._agent_layer import (
    aiter_run_wrapper,
    async_run_wrapper,
    iter_run_wrapper,
    sync_run_wrapper,
    text,
)
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import _aiterate, _iterate
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.tools import ToolRun, start_tool

DEFAULT_NAMES = {"agent": "agent", "team": "team"}
# The class of the first exception Agno logged while running the current function call (the tool's own, when it
# raised; a pre- or post-hook's is logged too, and counts only if the call failed).
_logged: ContextVar[str | None] = ContextVar("agentmetrics_agno_logged_exception", default=None)


def _open(
    telemetry: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], kind: str
) -> AgentRun | None:
    """The run of the agent (or team) that is the first argument of Agno's internal run functions."""
    try:
        owner = args[0] if args else kwargs.get(kind)
        name = text(getattr(owner, "name", None))
        session_id = kwargs.get("session_id")
        if session_id is None:
            session_id = getattr(kwargs.get("run_context") or (args[2] if len(args) > 2 else None), "session_id", None)
        agent_id = getattr(owner, "id", None)
        return start_agent(
            telemetry,
            name or DEFAULT_NAMES[kind],
            text(session_id),
            agent_id=str(agent_id) if agent_id is not None else None,
            description=text(getattr(owner, "description", None)),
            default_name=name is None,
        )
    except Exception:
        internal_error(f"opening an Agno {kind} run")
        return None


def _open_tool(telemetry: Telemetry, function_call: Any) -> ToolRun | None:
    try:
        function = function_call.function
        arguments = function_call.arguments if telemetry.capture.enabled else None
        description = text(getattr(function, "description", None))
        return start_tool(function.name, description, text(function_call.call_id), arguments, telemetry=telemetry)
    except Exception:
        internal_error("reading an Agno function call")
        return None


def _settle(run: ToolRun, function_call: Any, outcome: Any, logged: str | None) -> Any:
    """After ``FunctionCall.execute``/``aexecute`` returned ``outcome`` (a ``FunctionExecutionResult``): a failure
    Agno made from the tool's exception fails the tool run; a generator result (a team's delegation to a member,
    a streaming tool) is the tool's work still to come, so the run ends when Agno has consumed it. Returns what
    the caller gets: ``outcome``, its generator swapped for one that runs inside the tool run."""
    try:
        if getattr(outcome, "status", None) == "failure":
            run.report_error(logged or "tool_error")
            run.end()
            return outcome
        result = getattr(outcome, "result", None)
        if inspect.isgenerator(result):
            steps: Any = _iterate(run, result, False)
        elif inspect.isasyncgen(result):
            steps = _aiterate(run, result, False)
        else:
            run.end(result)
            return outcome
        outcome.result = steps
        if function_call.result is result:
            function_call.result = steps
    except Exception:
        internal_error("reading an Agno function result")
        if not run.ended:
            run.end()
    return outcome


def _execute(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open_tool(telemetry, instance)
        if run is None:
            return wrapped(*args, **kwargs)
        token = _logged.set(None)
        try:
            with run.activate():
                try:
                    outcome = wrapped(*args, **kwargs)
                except BaseException as error:
                    run.fail(error)
                    raise
            logged = _logged.get()
        finally:
            _logged.reset(token)
        return _settle(run, instance, outcome, logged)

    return traced


def _aexecute(telemetry: Telemetry) -> Callable[..., Any]:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = _open_tool(telemetry, instance)
        if run is None:
            return await wrapped(*args, **kwargs)
        token = _logged.set(None)
        try:
            with run.activate():
                try:
                    outcome = await wrapped(*args, **kwargs)
                except BaseException as error:
                    run.fail(error)
                    raise
            logged = _logged.get()
        finally:
            _logged.reset(token)
        return _settle(run, instance, outcome, logged)

    return traced


def _note_exception(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Agno logs a tool's exception (``log_exception(e)``) before turning it into a failed result."""
    error = args[0] if args else None
    if isinstance(error, BaseException) and _logged.get() is None:
        _logged.set(type(error).__qualname__)
    return wrapped(*args, **kwargs)


class AgnoInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``agno`` agent and team runs and the function calls they execute."""

    dependencies: Collection[str] = ("agno >= 2.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        for kind in ("agent", "team"):
            module = f"agno.{kind}._run"
            open_run = partial(_open, kind=kind)
            yield module, "_run", sync_run_wrapper(telemetry, open_run)
            yield module, "_run_stream", iter_run_wrapper(telemetry, open_run)  # nothing opened until iterated
            yield module, "_arun", async_run_wrapper(telemetry, open_run)
            yield module, "_arun_stream", aiter_run_wrapper(telemetry, open_run)
        yield "agno.tools.function", "FunctionCall.execute", _execute(telemetry)
        yield "agno.tools.function", "FunctionCall.aexecute", _aexecute(telemetry)
        yield "agno.tools.function", "log_exception", _note_exception
