"""Claude Agent SDK: the real SDK drives the real Claude Code CLI it bundles, in a subprocess, pointed at the local
Anthropic stand-in (``ANTHROPIC_BASE_URL``), offline; the agent's one tool is an SDK MCP tool run in this process.
The stand-in asks for the first tool offered, then answers from the tool's result."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

sdk = pytest.importorskip("claude_agent_sdk")

from claude_agent_sdk import (  # noqa: E402
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ResultMessage,
    StreamEvent,
    create_sdk_mcp_server,
    query,
    tool,
)

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.claude_agent_sdk import ClaudeAgentSDKInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, by_name, children, instrumented, scoped_telemetry  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (Path(sdk.__file__).parent / "_bundled" / "claude").exists() and shutil.which("claude") is None,
    reason="this claude-agent-sdk wheel bundles no Claude Code CLI and none is installed",
)

MODEL = "claude-3-5-haiku-20241022"
PRICER = PerMillionPricer(0.80, 4.0)
QUESTION = "Is it warm in Lisbon?"
TOOL = "mcp__weather__get_weather"


@tool("get_weather", "Current weather for a city", {"city": str})
async def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": f"22 degrees in {args['city']}"}]}


@tool("get_weather", "Current weather for a city", {"city": str})
async def broken_weather(args: dict[str, Any]) -> dict[str, Any]:
    raise ConnectionError("weather service down")


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, ClaudeAgentSDKInstrumentor(), PRICER, openai_client=False)


def options(llm: StandInServer, tmp_path: Any, weather: Any = get_weather, **more: Any) -> ClaudeAgentOptions:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "ANTHROPIC_BASE_URL": llm.anthropic_url,
        "ANTHROPIC_API_KEY": "test",
        "HOME": str(home),  # no user settings, no credentials of the machine
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    return ClaudeAgentOptions(
        model=MODEL,
        tools=[],  # none of the CLI's own tools: the stand-in asks for the first tool offered, ours
        allowed_tools=[TOOL],
        mcp_servers={"weather": create_sdk_mcp_server("weather", tools=[weather])},
        env=env,
        cwd=str(home),
        setting_sources=[],
        max_turns=4,
        **more,
    )


def run(messages: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [m async for m in messages]

    return asyncio.run(collect())


def dollars(span: Any) -> float:
    attrs = span.attributes
    return (attrs["gen_ai.usage.input_tokens"] * 0.80 + attrs["gen_ai.usage.output_tokens"] * 4.0) / 1e6


def assert_one_run(spans: Any, result: ResultMessage, tool_error: bool) -> Any:
    (agent_span,) = by_name(spans, "invoke_agent claude_code")
    first, tool_span, second = children(spans, agent_span)
    assert [first.name, tool_span.name, second.name] == [f"chat {MODEL}", f"execute_tool {TOOL}", f"chat {MODEL}"]
    assert len(spans) == 4
    assert agent_span.attributes["gen_ai.conversation.id"] == result.session_id
    # Each call's tokens are the API's own, from the stream events: they add up to the CLI's totals.
    usage = result.usage or {}
    total_in = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    chats = [first, second]
    assert sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats) == total_in
    assert sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats) == usage["output_tokens"]
    assert first.kind.name == "CLIENT" and first.attributes["gen_ai.provider.name"] == "anthropic"
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    assert ("error.type" in tool_span.attributes) is tool_error
    attrs = agent_span.attributes
    assert (attrs["agentmetrics.agent.model_calls"], attrs["agentmetrics.agent.tool_calls"]) == (2, 1)
    assert attrs["agentmetrics.agent.input_tokens"] == total_in
    assert attrs["agentmetrics.agent.output_tokens"] == usage["output_tokens"]
    assert attrs["agentmetrics.agent.errors"] == int(tool_error)
    assert attrs["agentmetrics.agent.cost"] == pytest.approx(dollars(first) + dollars(second), rel=1e-12)
    return tool_span


def test_a_query_with_a_tool_round(traced, llm, tmp_path):
    asked = options(llm, tmp_path)
    messages = run(query(prompt=QUESTION, options=asked))
    assert not any(isinstance(m, StreamEvent) for m in messages)  # not asked for: not passed on
    assert asked.include_partial_messages is False  # the caller's options are untouched
    result = messages[-1]
    assert isinstance(result, ResultMessage) and not result.is_error
    assert result.result.startswith("Here is what I found: 22 degrees in Lisbon")
    tool_span = assert_one_run(traced.finished(), result, tool_error=False)
    assert tool_span.status.status_code.name == "UNSET"


def test_a_client_response_with_a_failing_tool(traced, llm, tmp_path):
    async def converse() -> list[Any]:
        async with ClaudeSDKClient(options(llm, tmp_path, broken_weather)) as client:
            await client.query(QUESTION)
            return [m async for m in client.receive_response()]

    messages = asyncio.run(converse())
    assert not any(isinstance(m, StreamEvent) for m in messages)
    assert any(isinstance(m, AssistantMessage) for m in messages)
    result = messages[-1]
    assert isinstance(result, ResultMessage)
    tool_span = assert_one_run(traced.finished(), result, tool_error=True)
    assert tool_span.attributes["error.type"] == "tool_error"


def test_partial_messages_the_caller_asked_for_are_passed_on(traced, llm, tmp_path):
    messages = run(query(prompt=QUESTION, options=options(llm, tmp_path, include_partial_messages=True)))
    events = [m.event["type"] for m in messages if isinstance(m, StreamEvent)]
    assert events.count("message_start") == events.count("message_stop") == 2
    assert_one_run(traced.finished(), messages[-1], tool_error=False)


def test_uninstrument_restores_the_sdk(otel, llm, tmp_path):
    from claude_agent_sdk._internal.client import InternalClient

    original = InternalClient.__dict__["process_query"]
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = ClaudeAgentSDKInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert InternalClient.__dict__["process_query"] is not original
        instrumentor.uninstrument()
    assert InternalClient.__dict__["process_query"] is original
    assert ClaudeSDKClient.__dict__["receive_messages"].__name__ == "receive_messages"
    assert not hasattr(ClaudeSDKClient.__dict__["receive_messages"], "__wrapped__")
