"""DSPy: an ``invoke_agent`` span, with the run's roll-up, for every run of a ``dspy.ReAct`` agent (``forward`` /
``aforward``, so calling the module, ``acall`` and optimizers' runs), and an ``execute_tool`` span for every
``dspy.Tool`` it calls.

The run is named after the agent's signature when it is a class of yours (``class Forecast(dspy.Signature)``),
else ``ReAct``; a ``ReAct`` inside another agent run (your ``agentmetrics.agent(...)``) is part of that run. The
``finish`` tool ReAct adds to every agent (it only marks the trajectory complete) is not a tool run. A tool's
exception, which ReAct hands to the model as the observation, still fails the tool span. ReAct's text protocol
has no tool-call ids, so the tool spans carry none.

Model calls: ``dspy.LM`` calls its provider through LiteLLM (``engine="litellm"``), whose instrumentor records
the call, or through DSPy's own native engine (lm15, the default for known providers), which talks HTTP by itself
and which no client instrumentor sees. Each ``LM`` call (``__call__`` / ``acall``) is watched: when no client
instrumentor recorded a model call inside it, it is recorded from what DSPy hands its usage tracker (the
``CallResult`` of ``execution.finalize``: usage and response model; before 3.4 the OpenAI-shaped response of
``_record_response``, with its id and finish reason too), priced; a failed
call is a failed span. A cached answer (``cache_hit``) made no call and is not one; turn the cache off
(``dspy.LM(..., cache=False)``) to see every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar
from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._agent_layer import async_run_wrapper, fail_open, sync_run_wrapper
from otel_agentmetrics._config import Settings
from otel_agentmetrics._context import CallRefused
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._runs import Run, Scope, acall, call
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._tool_layer import async_tool_wrapper, sync_tool_wrapper
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord

DEFAULT_NAME = "ReAct"
_FINISH = "Marks the task as complete"  # the start of the description of ReAct's own ``finish`` tool


@fail_open("opening a DSPy ReAct run")
def _open(telemetry: Telemetry, agent: Any, *_: Any) -> AgentRun | None:
    signature = getattr(agent, "signature", None)
    name = getattr(signature, "__name__", None)
    if not isinstance(name, str) or not name or name == "StringSignature":
        name = DEFAULT_NAME
    return start_agent(telemetry, name, default_name=name == DEFAULT_NAME)


def _is_finish(tool: Any) -> bool:
    desc = getattr(tool, "desc", None)
    return getattr(tool, "name", None) == "finish" and isinstance(desc, str) and desc.startswith(_FINISH)


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, Any]:
    desc = getattr(instance, "desc", None)
    return instance.name, desc if isinstance(desc, str) else None, None, kwargs or None


def _tool(wrapper: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """The tool wrapper, except for ReAct's ``finish``, which is no tool run."""
    if is_async:

        async def traced_async(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            if _is_finish(instance):
                return await wrapped(*args, **kwargs)
            return await wrapper(wrapped, instance, args, kwargs)

        return traced_async

    def traced(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if _is_finish(instance):
            return wrapped(*args, **kwargs)
        return wrapper(wrapped, instance, args, kwargs)

    return traced


# -- model calls no client instrumentor sees (DSPy's native engine) -----------------------------------------------


class _LMCall(Run, Scope):
    """One ``LM`` call: a scope that notes a client instrumentor's call inside it, and the responses DSPy reports."""

    def __init__(self, telemetry: Telemetry, lm: Any) -> None:
        self.telemetry = telemetry
        self.lm = lm
        self.seen = False
        self.responses: list[Any] = []
        self.scope = self
        self.start_time = time.time_ns()

    def before_call(self, record: Any) -> None:
        self.seen = True

    def end(self, result: Any = None) -> None:
        if self.seen:
            return
        try:
            for response in self.responses:
                if not getattr(response, "cache_hit", False):
                    record = self._record()
                    _fill_response(record, response)
                    self.telemetry.start(record, start_time=self.start_time).end()
        except CallRefused:
            raise  # a budget spent by earlier calls: meant for the user, as before any other model call
        except Exception:
            internal_error("recording a DSPy LM call")

    def fail(self, error: BaseException) -> None:
        if self.seen or self.responses or not isinstance(error, Exception):
            return
        try:
            self.telemetry.start(self._record(), start_time=self.start_time).fail(error)
        except Exception:
            internal_error("recording a failed DSPy LM call")

    def _record(self) -> CallRecord:
        model = getattr(self.lm, "model", None)
        provider, _, name = model.partition("/") if isinstance(model, str) else ("", "", "")
        if not name:  # no provider prefix
            provider, name = "", provider
        return CallRecord(sc.OP_CHAT, provider or "dspy", name or None)


_current: ContextVar[_LMCall | None] = ContextVar("agentmetrics_dspy_lm_call", default=None)


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fill_response(record: CallRecord, response: Any) -> None:
    if type(response).__name__ == "CallResult":  # DSPy 3.4+: usage and model here, the provider's answer in raw
        raw = getattr(response, "raw", None)
        if raw is not None:
            _fill_response(record, raw)
        usage = getattr(response, "usage", None) or {}
        record.input_tokens = _int(_get(usage, "prompt_tokens")) or _int(_get(usage, "input_tokens"))
        record.output_tokens = _int(_get(usage, "completion_tokens")) or _int(_get(usage, "output_tokens"))
        model = getattr(response, "response_model", None)
        if isinstance(model, str) and model:
            record.response_model = model
        return
    model, response_id = _get(response, "model"), _get(response, "id")
    if isinstance(model, str) and model:
        record.response_model = model
    if isinstance(response_id, str) and response_id:
        record.response_id = response_id
    choices = _get(response, "choices") or []
    reasons = [r for r in (_get(c, "finish_reason") for c in choices) if isinstance(r, str)]
    if reasons:
        record.finish_reasons = reasons
    usage = _get(response, "usage") or {}
    record.input_tokens = _int(_get(usage, "prompt_tokens"))
    record.output_tokens = _int(_get(usage, "completion_tokens"))
    details = _get(usage, "prompt_tokens_details")
    cached = _int(_get(details, "cached_tokens")) if details is not None else None
    if cached:
        record.cache_read_input_tokens = cached


def _record_response(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``BaseLM._record_response(response, ...)``: where DSPy hands each response's usage to its tracker."""
    current = _current.get()
    if current is not None and current.lm is instance:
        current.responses.append(args[0] if args else kwargs.get("response"))
    return wrapped(*args, **kwargs)


def _finalize(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``dspy.clients.execution.finalize(lm, call, result)`` (DSPy 3.4 and later): where an LM call's
    ``CallResult`` (usage, response model, cache hit) goes to DSPy's usage tracker."""
    lm = args[0] if args else kwargs.get("lm")
    current = _current.get()
    if current is not None and current.lm is lm:
        current.responses.append(args[2] if len(args) > 2 else kwargs.get("result"))
    return wrapped(*args, **kwargs)


def _lm_call(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            lm_call = _LMCall(telemetry, instance)
        except Exception:
            internal_error("opening a DSPy LM call")
            return wrapped(*args, **kwargs)
        token = _current.set(lm_call)
        try:
            return call(lm_call, wrapped, args, kwargs)
        finally:
            _current.reset(token)

    return traced


def _lm_acall(telemetry: Telemetry) -> Callable[..., Any]:
    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            lm_call = _LMCall(telemetry, instance)
        except Exception:
            internal_error("opening a DSPy LM call")
            return await wrapped(*args, **kwargs)
        token = _current.set(lm_call)
        try:
            return await acall(lm_call, wrapped, args, kwargs)
        finally:
            _current.reset(token)

    return traced


class DSPyInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``dspy`` ReAct agents and tools."""

    dependencies: Collection[str] = ("dspy >= 2.6",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "dspy.predict.react", "ReAct.forward", sync_run_wrapper(telemetry, _open)
        yield "dspy.predict.react", "ReAct.aforward", async_run_wrapper(telemetry, _open)
        tools = "dspy.adapters.types.tool"
        yield tools, "Tool.__call__", _tool(sync_tool_wrapper(telemetry, _describe), False)
        yield tools, "Tool.acall", _tool(async_tool_wrapper(telemetry, _describe), True)
        lms = "dspy.clients.base_lm"
        yield lms, "BaseLM.__call__", _lm_call(telemetry)
        yield lms, "BaseLM.acall", _lm_acall(telemetry)
        yield lms, "BaseLM._record_response", _record_response  # before DSPy 3.4
        yield "dspy.clients.execution", "finalize", _finalize
