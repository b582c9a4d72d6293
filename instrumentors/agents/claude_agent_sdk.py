"""Claude Agent SDK: the Claude Code CLI runs the agent loop in a subprocess, so nothing of it passes through a
client library in this process. Everything is read from the messages the SDK hands the caller.

- ``query()`` (``InternalClient.process_query``) is one ``invoke_agent claude_code`` run, from the first message
  to the last; with ``ClaudeSDKClient``, each response (the messages up to and including a ``ResultMessage``
  that ``receive_messages``/``receive_response`` yield) is one run. ``gen_ai.conversation.id`` is the CLI's
  session id (from its ``init`` message). A ``ResultMessage`` with ``is_error`` ends the run failed, with its
  ``subtype`` (``error_max_turns``, ...) as ``error.type``.
- Each model request the CLI makes is a ``chat {model}`` CLIENT span, built from the raw Anthropic stream events the
  CLI forwards when asked for partial messages: opened at ``message_start`` (model, response id, input and cache
  tokens), ended at ``message_stop`` (output tokens and stop reason from ``message_delta``, tool-call ids from the
  ``tool_use`` blocks), priced. The ``AssistantMessage`` usage is a snapshot taken before the answer was
  generated (``output_tokens`` 1), so the SDK is asked for partial messages whether or not the caller did (a copy
  of the options; the caller's object is unchanged) and the ``StreamEvent`` messages the caller did not ask for are
  not passed on: the caller sees the same messages as without us.
- Each tool the model asked for (the CLI's own tools, MCP tools, and SDK MCP tools run in this process) is an
  ``execute_tool`` span with the model's ``tool_use`` id, linked to the model call that asked for it: opened when
  that call ends, ended by the ``ToolResultBlock`` with its id (failed, ``tool_error``, when ``is_error``).
- Provider: ``anthropic``, or ``aws.bedrock`` / ``gcp.vertex_ai`` when the CLI is set to use them
  (``CLAUDE_CODE_USE_BEDROCK`` / ``CLAUDE_CODE_USE_VERTEX`` in the options' ``env`` or the environment).

- The ``mcp`` package's own ``tools/call`` server span is not opened inside the Claude Agent SDK's in-process
  (SDK MCP) servers: that tool call is already our ``execute_tool`` span. Other MCP servers keep theirs.

Not used: ``ResultMessage.total_cost_usd`` and ``model_usage`` (the CLI's own price table; ours prices each call),
subagents' separate identity (their calls and tools count in the run that started them).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._config import Settings
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics.agents import AgentRun, start_agent
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.record import CallRecord
from otel_agentmetrics.tools import ToolRun, start_tool

AGENT_NAME = "claude_code"
_HIDE = "_agentmetrics_hide_stream_events"  # set on a ClaudeSDKClient whose partial messages we turned on
_in_sdk_mcp_server: ContextVar[bool] = ContextVar("agentmetrics_in_sdk_mcp_server", default=False)


def _provider(options: Any) -> str:
    env = {**os.environ, **(getattr(options, "env", None) or {})}
    if env.get("CLAUDE_CODE_USE_BEDROCK") not in (None, "", "0", "false"):
        return "aws.bedrock"
    if env.get("CLAUDE_CODE_USE_VERTEX") not in (None, "", "0", "false"):
        return "gcp.vertex_ai"
    return "anthropic"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class _Tracker:
    """Turns one run's messages into its model-call and tool spans."""

    def __init__(self, telemetry: Telemetry, options: Any, hide_events: bool) -> None:
        self.telemetry = telemetry
        self.provider = _provider(options)
        model = getattr(options, "model", None)
        self.request_model = model if isinstance(model, str) and model else None
        self.hide_events = hide_events
        self.run: AgentRun | None = None
        self.call: Call | None = None
        self.record: CallRecord | None = None
        self.tool_uses: dict[str, tuple[str, Any]] = {}
        self.asked: list[str] = []
        self.tools: dict[str, ToolRun] = {}
        # A tool's result that came before the model call asking for it ended (the CLI runs the tool as soon as its
        # block is complete, while the stream's last events may still be on the way): applied when its span starts.
        self.early_results: dict[str, Any] = {}

    def open(self) -> None:
        if self.run is None or self.run.ended:
            self.run = start_agent(self.telemetry, AGENT_NAME, default_name=True)

    def see(self, message: Any) -> bool:
        """Record what ``message`` says; ``True`` when it is a stream event the caller did not ask for."""
        kind = type(message).__name__
        hide = False
        try:
            if self.run is None and kind != "ResultMessage":
                self.open()
            if kind == "StreamEvent":
                hide = self.hide_events
                self._event(getattr(message, "event", None))
            elif kind == "AssistantMessage":
                self._assistant(message)
            elif kind == "UserMessage":
                self._user(message)
            elif kind == "SystemMessage" and getattr(message, "subtype", None) == "init":
                self._conversation(getattr(message, "data", {}).get("session_id"))
            elif kind == "ResultMessage":
                self._result(message)
        except Exception:
            internal_error("reading a Claude Agent SDK message")
        return hide

    # -- model calls, from the raw stream events -------------------------------------------------------------
    def _event(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "message_start":
            self._start_call(event.get("message") or {})
        elif self.record is None:
            return
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                self.asked.append(block["id"])
        elif kind == "message_delta":
            usage, delta = event.get("usage") or {}, event.get("delta") or {}
            if "output_tokens" in usage:
                self.record.output_tokens = _int(usage.get("output_tokens"))
            if isinstance(delta.get("stop_reason"), str):
                self.record.finish_reasons = [delta["stop_reason"]]
        elif kind == "message_stop":
            self._end_call(None)

    def _start_call(self, message: dict[str, Any]) -> None:
        self._end_call("incomplete")  # a request the CLI gave up on (it retries with a new message_start)
        model = message.get("model")
        requested = self.request_model or (model if isinstance(model, str) else None)
        record = CallRecord(sc.OP_CHAT, self.provider, requested)
        record.stream = True
        if isinstance(model, str):
            record.response_model = model
        if isinstance(message.get("id"), str):
            record.response_id = message["id"]
        usage = message.get("usage") or {}
        cache_read = _int(usage.get("cache_read_input_tokens"))
        cache_write = _int(usage.get("cache_creation_input_tokens"))
        record.input_tokens = _int(usage.get("input_tokens")) + cache_read + cache_write
        record.output_tokens = _int(usage.get("output_tokens"))
        record.cache_read_input_tokens = cache_read
        record.cache_creation_input_tokens = cache_write
        self.record, self.asked = record, []
        assert self.run is not None
        with self.run.activate():
            self.call = self.telemetry.start(record)

    def _end_call(self, error: str | None) -> None:
        call, record, self.call, self.record = self.call, self.record, None, None
        if call is None or record is None:
            return
        if self.asked:
            record.tool_call_ids = list(self.asked)
        if error is None:
            call.end()
        else:
            call.fail(error)
        # The tools it asked for run now: their spans start here, after the call that asked for them.
        run = self.run
        for call_id in self.asked:
            name, arguments = self.tool_uses.get(call_id, ("tool", None))
            if run is None:
                break
            with run.activate():
                tool = start_tool(name, None, call_id, arguments if self.telemetry.capture.enabled else None,
                                  telemetry=self.telemetry)  # fmt: skip
            if tool is not None:
                self.tools[call_id] = tool
                early = self.early_results.pop(call_id, None)
                if early is not None:
                    self._tool_result(early)
        self.asked = []

    # -- messages ----------------------------------------------------------------------------------------------
    def _assistant(self, message: Any) -> None:
        for block in getattr(message, "content", None) or ():
            if type(block).__name__ == "ToolUseBlock":
                self.tool_uses[block.id] = (block.name, getattr(block, "input", None))
        error = getattr(message, "error", None)
        if error and self.call is not None:
            self._end_call(str(error))

    def _user(self, message: Any) -> None:
        content = getattr(message, "content", None)
        for block in content if isinstance(content, list) else ():
            if type(block).__name__ == "ToolResultBlock":
                self._tool_result(block)

    def _tool_result(self, block: Any) -> None:
        call_id = getattr(block, "tool_use_id", "")
        tool = self.tools.pop(call_id, None)
        if tool is None:
            if call_id in self.asked and len(self.early_results) < 1000:
                self.early_results[call_id] = block  # its span starts when the asking call ends
            return
        if getattr(block, "is_error", None):
            tool.report_error(sc.ERROR_TYPE_TOOL)
        tool.end(getattr(block, "content", None))

    def _conversation(self, session_id: Any) -> None:
        if self.run is not None and isinstance(session_id, str) and session_id:
            self.run.span.set_attribute(sc.CONVERSATION_ID, session_id)

    def _result(self, message: Any) -> None:
        self._end_call("incomplete")
        for tool in self.tools.values():
            tool.end()
        self.tools = {}
        run, self.run = self.run, None
        if run is None:
            return
        self._conversation(getattr(message, "session_id", None))
        if getattr(message, "is_error", False):
            subtype = getattr(message, "subtype", None)
            run.error_type = subtype if isinstance(subtype, str) and subtype != "success" else "error"
        run.end()

    def close(self, error: BaseException | None) -> None:
        """The caller stopped iterating, or the SDK raised: whatever is open ends here."""
        try:
            self._end_call(None if error is None else type(error).__name__)
            runs: list[Any] = [*self.tools.values(), self.run]
            self.tools, self.run = {}, None
            for run in runs:
                if run is None:
                    continue
                if error is None:
                    run.end()
                else:
                    run.fail(error)
        except Exception:
            internal_error("ending a Claude Agent SDK run")


def _with_partial_messages(options: Any) -> tuple[Any, bool]:
    """A copy of the options that asks for partial messages, and whether the caller had not asked for them."""
    if options is None or getattr(options, "include_partial_messages", True):
        return options, False
    try:
        return dataclasses.replace(options, include_partial_messages=True), True
    except Exception:
        internal_error("asking the Claude Agent SDK for partial messages")
        return options, False


def _process_query(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _traced_query(telemetry, wrapped, args, kwargs)

    return traced


async def _traced_query(
    telemetry: Telemetry, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    options = args[1] if len(args) > 1 else kwargs.get("options")
    tracker: _Tracker | None = None
    try:
        changed, hide = _with_partial_messages(options)
        if hide and len(args) > 1:
            args = (args[0], changed, *args[2:])
        elif hide:
            kwargs = {**kwargs, "options": changed}
        tracker = _Tracker(telemetry, options, hide)
        tracker.open()
    except Exception:
        internal_error("opening a Claude Agent SDK query")
    tracked = _tracked(wrapped(*args, **kwargs), tracker)
    try:
        async for message in tracked:
            yield message
    finally:
        await tracked.aclose()  # now, not at collection: the caller who stops early ends the run here


async def _tracked(messages: Any, tracker: _Tracker | None) -> AsyncGenerator[Any, None]:
    """The SDK's messages as the caller sees them (the stream events it did not ask for hidden), each seen by
    ``tracker``; whatever is open ends when the messages end, fail, or the caller stops."""
    if tracker is None:
        async for message in messages:
            yield message
        return
    error: BaseException | None = None
    try:
        async for message in messages:
            if not tracker.see(message):
                yield message
    except GeneratorExit:
        raise
    except BaseException as failure:
        error = failure
        raise
    finally:
        tracker.close(error)
        await messages.aclose()


def _connect(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``ClaudeSDKClient.connect``: the CLI is started with partial messages on (hidden again if not asked for)."""
    try:
        changed, hide = _with_partial_messages(getattr(instance, "options", None))
        if hide:
            instance.options = changed
            setattr(instance, _HIDE, True)
    except Exception:
        internal_error("asking the Claude Agent SDK client for partial messages")
    return wrapped(*args, **kwargs)


def _receive(telemetry: Telemetry) -> Callable[..., Any]:
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _traced_receive(telemetry, wrapped, instance, args, kwargs)

    return traced


async def _traced_receive(
    telemetry: Telemetry, wrapped: Callable[..., Any], client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    tracker: _Tracker | None = None
    try:
        tracker = _Tracker(telemetry, getattr(client, "options", None), bool(getattr(client, _HIDE, False)))
    except Exception:
        internal_error("opening a Claude Agent SDK client run")
    tracked = _tracked(wrapped(*args, **kwargs), tracker)
    try:
        async for message in tracked:
            yield message
    finally:
        await tracked.aclose()  # now, not at collection: the caller who stops early ends the run here


# -- SDK MCP servers: the tool call is ours (from the messages), not a second span from mcp's own tracing --------


async def _bridge(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``SdkMcpBridge.handle``: one message from the CLI to an in-process MCP server. mcp runs the server's handler
    in the context the message was sent from (its memory transport carries it), so the mark reaches it."""
    token = _in_sdk_mcp_server.set(True)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _in_sdk_mcp_server.reset(token)


@contextmanager
def _no_span() -> Iterator[Any]:
    yield trace.INVALID_SPAN


def _mcp_server_span(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """mcp's ``otel_span`` in its server middleware: inside an SDK MCP server of the Claude Agent SDK the tool call
    already is our ``execute_tool`` span (with the model's tool-call id), so mcp's ``tools/call`` span is not
    opened there; every other MCP server keeps its spans."""
    if _in_sdk_mcp_server.get():
        return _no_span()
    return wrapped(*args, **kwargs)


class ClaudeAgentSDKInstrumentor(AgentMetricsInstrumentor):
    """Instruments ``claude-agent-sdk`` queries and client responses."""

    dependencies: Collection[str] = ("claude-agent-sdk >= 0.1",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        yield "claude_agent_sdk._internal.client", "InternalClient.process_query", _process_query(telemetry)
        yield "claude_agent_sdk.client", "ClaudeSDKClient.connect", _connect
        yield "claude_agent_sdk.client", "ClaudeSDKClient.receive_messages", _receive(telemetry)
        yield "claude_agent_sdk._internal.sdk_mcp_bridge", "SdkMcpBridge.handle", _bridge
        yield "mcp.server._otel", "otel_span", _mcp_server_span
