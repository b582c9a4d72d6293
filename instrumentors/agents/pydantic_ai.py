"""Pydantic AI: an ``invoke_agent {agent name}`` span, with the run's roll-up, for every agent run, and an
``execute_tool`` span for every function tool it runs, with the model's tool-call id.

``run``, ``run_sync``, ``run_stream`` and ``run_stream_events`` all drive ``Agent.iter``, so the run is opened
when that context is entered and ended when it is left (for ``run_stream``, when the caller's ``async with``
block ends). An agent without a name (Pydantic AI infers one from the variable only once the run started) is
``agent`` and, inside an enclosing run, part of that run. Model calls are the client instrumentors' spans
(``OpenAIChatModel`` -> ``openai``). A tool that raises ``ModelRetry`` fails its span (``ToolRetryError``)
although the model is asked to try again.

Pydantic AI's own OpenTelemetry instrumentation (``instrument=True``) emits its own agent, model and tool spans;
they are not ours and do not change ours.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from typing import Any

from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

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


class PydanticAIInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``pydantic-ai`` agent runs and function tools."""

    dependencies: Collection[str] = ("pydantic-ai-slim >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "pydantic_ai.agent", "Agent.iter", _iter(telemetry)
        # Where a validated function tool runs (``toolset.call_tool``), below the capability hooks and retries.
        yield "pydantic_ai.tool_manager", "ToolManager._raw_execute", async_tool_wrapper(telemetry, _describe)
