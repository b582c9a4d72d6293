"""Pydantic AI: an ``invoke_agent {agent name}`` span, with the run's roll-up, for every agent run, and an
``execute_tool`` span for every function tool it runs, with the model's tool-call id.

``run``, ``run_sync``, ``run_stream`` and ``run_stream_events`` all drive ``Agent.iter``, so the run is opened
when that context is entered and ended when it is left (for ``run_stream``, when the caller's ``async with``
block ends). An agent without a name (Pydantic AI infers one from the variable only once the run started) is
``agent`` and, inside an enclosing run, part of that run. Model calls are the client instrumentors' spans
(``OpenAIChatModel`` -> ``openai``). A tool that raises ``ModelRetry`` fails its span (``ToolRetryError``)
although the model is asked to try again.

Pydantic AI's own OpenTelemetry instrumentation (``instrument=True``, ``Agent.instrument_all()``, Logfire's
``instrument_pydantic_ai()``) would give every run, model call and tool a second span (its ``Instrumentation``
capability's), and a second set of token metrics. While this instrumentor is active that capability stands down
where ours records the same thing: its run span and its function-tool spans are not opened (ours are), and its
model-request span neither: a model call is the client instrumentor's span, or, when no client instrumentor saw
it (``FunctionModel``, a provider we do not instrument), ours recorded here from the ``ModelResponse`` Pydantic AI
returns (usage, model, finish reason, tool calls), priced. Its spans for output functions and for tool arguments
that failed validation, which we do not record, stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._agent_layer import text
from otel_agentmetrics._config import Settings
from otel_agentmetrics._context import CallRefused
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import Run, Scope, acall
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

DEFAULT_NAME = "agent"


class _TracedRun:
    """Wraps the ``Agent.iter`` context manager: the agent run is current from ``__aenter__`` to ``__aexit__``."""

    def __init__(self, telemetry: Telemetry, manager: Any, agent: Any, kwargs: dict[str, Any]) -> None:
        self._manager = manager
        self._telemetry = telemetry
        self._agent = agent
        self._kwargs = kwargs
        self._run: AgentRun | None = None
        self._activation: Any = None

    def __getattr__(self, name: str) -> Any:  # anything else the caller reads from the context manager
        return getattr(self._manager, name)

    async def __aenter__(self) -> Any:
        self._open()
        try:
            return await self._manager.__aenter__()
        except BaseException as error:
            self._close(error)
            raise

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        try:
            suppressed = await self._manager.__aexit__(exc_type, exc, tb)
        except BaseException as error:
            self._close(error)
            raise
        self._close(None if suppressed else exc)
        return suppressed

    def _open(self) -> None:
        try:
            name = getattr(self._agent, "name", None)
            conversation_id = self._kwargs.get("conversation_id")
            self._run = start_agent(
                self._telemetry,
                name if isinstance(name, str) and name else DEFAULT_NAME,
                conversation_id if isinstance(conversation_id, str) else None,
                default_name=not (isinstance(name, str) and name),
            )
            if self._run is not None:
                self._activation = self._run.activate()
                self._activation.__enter__()
        except Exception:
            internal_error("opening a Pydantic AI run")

    def _close(self, error: BaseException | None) -> None:
        run, activation = self._run, self._activation
        self._run = self._activation = None
        if run is None:
            return
        if activation is not None:
            # ValueError: left in another context than it was entered in; that context is gone anyway.
            with suppress(ValueError):
                activation.__exit__(None, None, None)
        if error is None:
            run.end()
        else:
            run.fail(error)


def _iter(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        return _TracedRun(telemetry, manager, instance, kwargs)

    return traced


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    validated = args[0] if args else kwargs["validated"]
    call = validated.call
    tool_def = getattr(validated.tool, "tool_def", None)
    return call.tool_name, getattr(tool_def, "description", None), call.tool_call_id, validated.validated_args


# -- Pydantic AI's own instrumentation, standing down where ours records -----------------------------------------


async def _their_run(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Instrumentation.wrap_run``: the run is ours (opened by ``Agent.iter``); theirs is not opened."""
    handler = kwargs.get("handler")
    if handler is None:
        return await wrapped(*args, **kwargs)
    return await handler()


async def _their_tool(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Instrumentation.wrap_tool_execute``: the tool run is ours (``ToolManager._raw_execute``)."""
    handler, validated = kwargs.get("handler"), kwargs.get("args")
    if handler is None or "args" not in kwargs:
        return await wrapped(*args, **kwargs)
    return await handler(validated)


class _Watch(Scope):
    """Active while a model request runs: notes whether a client instrumentor started a model call inside it."""

    def __init__(self) -> None:
        self.seen = False

    def before_call(self, record: Any) -> None:
        self.seen = True


class _ModelRequest(Run):
    """One model request of an agent run: recorded from Pydantic AI's ``ModelResponse`` when it ends, unless a
    client instrumentor recorded it."""

    def __init__(self, telemetry: Telemetry, request_context: Any) -> None:
        self.telemetry = telemetry
        self.model = getattr(request_context, "model", None)
        self.watch = _Watch()
        self.scope = self.watch
        self.start_time = time.time_ns()

    def end(self, result: Any = None) -> None:
        if self.watch.seen:
            return
        try:
            record = self._record()
            _fill_response(record, result)
            self.telemetry.start(record, start_time=self.start_time).end()
        except CallRefused:
            raise  # a budget spent by earlier calls: meant for the user, as before any other model call
        except Exception:
            internal_error("recording a Pydantic AI model request")

    def fail(self, error: BaseException) -> None:
        # Not an ``Exception`` (a cancelled task, ``compact_history()`` ending its run): no call failed.
        if self.watch.seen or not isinstance(error, Exception):
            return
        try:
            self.telemetry.start(self._record(), start_time=self.start_time).fail(error)
        except Exception:
            internal_error("recording a failed Pydantic AI model request")

    def _record(self) -> CallRecord:
        model = self.model
        provider = getattr(model, "system", None)
        name = getattr(model, "model_name", None)
        return CallRecord(
            sc.OP_CHAT,
            provider if isinstance(provider, str) and provider else "pydantic_ai",
            text(name),
        )


def _fill_response(record: CallRecord, response: Any) -> None:
    if response is None:
        return
    model_name, response_id = getattr(response, "model_name", None), getattr(response, "provider_response_id", None)
    if isinstance(model_name, str) and model_name:
        record.response_model = model_name
        record.request_model = record.request_model or model_name
    if isinstance(response_id, str) and response_id:
        record.response_id = response_id
    finish = getattr(response, "finish_reason", None)
    if isinstance(finish, str) and finish:
        record.finish_reasons = [finish]
    ids = [
        part.tool_call_id
        for part in getattr(response, "parts", None) or ()
        if getattr(part, "part_kind", None) == "tool-call" and isinstance(getattr(part, "tool_call_id", None), str)
    ]
    if ids:
        record.tool_call_ids = ids
    usage = getattr(response, "usage", None)
    if usage is None:
        return
    record.input_tokens = getattr(usage, "input_tokens", None)
    record.output_tokens = getattr(usage, "output_tokens", None)
    record.cache_read_input_tokens = getattr(usage, "cache_read_tokens", None) or None
    record.cache_creation_input_tokens = getattr(usage, "cache_write_tokens", None) or None


def _their_model_request(telemetry: Telemetry) -> Callable[..., Any]:
    """``Instrumentation.wrap_model_request``: their span is not opened; the call is the client instrumentor's
    span, or ours from the response when no client instrumentor saw it."""

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        handler, request_context = kwargs.get("handler"), kwargs.get("request_context")
        if handler is None or request_context is None:
            return await wrapped(*args, **kwargs)
        try:
            run = _ModelRequest(telemetry, request_context)
        except Exception:
            internal_error("opening a Pydantic AI model request")
            return await handler(request_context)
        return await acall(run, handler, (request_context,), {})

    return traced


class PydanticAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``pydantic-ai`` agent runs and function tools."""

    dependencies: Collection[str] = ("pydantic-ai-slim >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "pydantic_ai.agent", "Agent.iter", _iter(telemetry)
        # Where a validated function tool runs (``toolset.call_tool``), below the capability hooks and retries.
        yield "pydantic_ai.tool_manager", "ToolManager._raw_execute", async_tool_wrapper(telemetry, _describe)
        # Pydantic AI's own instrumentation (``instrument=True``): one span per run, model call and tool, ours.
        capability = "pydantic_ai.capabilities.instrumentation"
        yield capability, "Instrumentation.wrap_run", _their_run
        yield capability, "Instrumentation.wrap_model_request", _their_model_request(telemetry)
        yield capability, "Instrumentation.wrap_tool_execute", _their_tool
