"""LlamaIndex: workflows (agents are workflows) and ``FunctionTool`` through the real ``llama-index-core``.

The agent tests drive a real ``FunctionAgent`` whose ``llama_index.llms.openai.OpenAI`` calls the real ``openai``
client against the local stand-in server; they run where that integration is installed (``bash
tests/llamaindex-env.sh``: it pins openai<3, while the main environment tests openai 3.x). The workflow tests need
only ``llama-index-core``.
"""

from __future__ import annotations

import asyncio
import os

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.tools import FunctionTool  # noqa: E402
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step  # noqa: E402

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.demo.server import StandInServer  # noqa: E402
from otel_agentmetrics.instrumentors.agents.llamaindex import LlamaIndexInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, instrumented, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


@pytest.fixture
def traced(otel):
    yield from instrumented(otel, LlamaIndexInstrumentor(), PRICER)


class Forecast(Workflow):
    """A workflow that is not an agent: one step calling a tool."""

    @step
    async def forecast(self, ev: StartEvent) -> StopEvent:
        tool = FunctionTool.from_defaults(get_weather)
        output = await tool.acall(city=ev.city)
        return StopEvent(result=output.content)


class Failing(Workflow):
    @step
    async def forecast(self, ev: StartEvent) -> StopEvent:
        raise ValueError("no forecast today")


def test_a_workflow_run_is_a_run_with_its_tool_calls(traced):
    async def go() -> str:
        return await Forecast().run(city="Lisbon")  # run() schedules on the running loop

    assert asyncio.run(go()) == "22 degrees in Lisbon"
    spans = traced.finished()
    (run,) = by_name(spans, "invoke_agent Forecast")
    (tool_span,) = children(spans, run)
    assert tool_span.name == "execute_tool get_weather"
    assert tool_span.attributes["gen_ai.tool.description"].endswith("Current weather for a city.")
    assert run.attributes["agentmetrics.agent.tool_calls"] == 1
    assert "error.type" not in run.attributes


def test_a_failing_workflow_fails_its_run(traced):
    async def go() -> None:
        with pytest.raises(ValueError, match="no forecast today"):
            await Failing().run()

    asyncio.run(go())
    (run,) = by_name(traced.finished(), "invoke_agent Failing")
    assert run.attributes["error.type"] == "ValueError"
    assert run.status.status_code.name == "ERROR"


def test_a_sync_tool_call_and_a_failing_tool(traced):
    assert FunctionTool.from_defaults(get_weather).call(city="Porto").content == "22 degrees in Porto"
    with pytest.raises(ConnectionError):
        FunctionTool.from_defaults(broken_weather, name="get_weather").call(city="Porto")
    ok, failed = by_name(traced.finished(), "execute_tool get_weather")
    assert "error.type" not in ok.attributes
    assert failed.attributes["error.type"] == "ConnectionError"


# -- agents through llama-index-llms-openai (tests/llamaindex-env.sh) -----------------------------------------------

# Set by tests/llamaindex-env.sh, where the integration must be there (conftest.py clears AGENTMETRICS_* names).
if os.environ.get("LLAMAINDEX_TESTS_REQUIRED"):
    from llama_index.llms.openai import OpenAI
else:
    try:
        from llama_index.llms.openai import OpenAI
    except ImportError:
        OpenAI = None


needs_openai_llm = pytest.mark.skipif(
    OpenAI is None, reason="llama-index-llms-openai needs openai<3: bash tests/llamaindex-env.sh"
)


@pytest.fixture
def llm():
    with StandInServer(latency=(0.0, 0.0)) as server:
        yield server


def weather_agent(llm: StandInServer, tool=get_weather, name: str = "forecaster"):
    from llama_index.core.agent.workflow import FunctionAgent

    model = OpenAI(
        model="gpt-4o-mini",
        api_base=llm.openai_url,
        api_key="test",
        max_retries=0,
        additional_kwargs={"stream_options": {"include_usage": True}},  # the agent streams: no usage otherwise
    )
    return FunctionAgent(tools=[FunctionTool.from_defaults(tool, name="get_weather")], llm=model, name=name)


@needs_openai_llm
def test_function_agent_is_one_run_above_its_model_and_tool_calls(traced, llm):
    async def go() -> object:
        return await weather_agent(llm).run(user_msg="Is it warm in Lisbon?")

    result = asyncio.run(go())
    assert str(result) == "Here is what I found: 22 degrees in Lisbon. Enjoy the trip!"
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    assert len(spans) == 4
    first, tool_span, second = kids
    (call_id,) = first.attributes["agentmetrics.response.tool_call_ids"]
    assert tool_span.attributes["gen_ai.tool.call.id"] == call_id
    assert [link.context.span_id for link in tool_span.links] == [first.context.span_id]
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=0)


@needs_openai_llm
def test_a_failing_tool_the_agent_hands_to_the_model(traced, llm):
    async def go() -> None:
        await weather_agent(llm, broken_weather).run(user_msg="Is it warm in Lisbon?")

    asyncio.run(go())
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    first, tool_span, second = children(spans, agent_span)
    assert tool_span.attributes["error.type"] == "ConnectionError"
    assert_rollup(agent_span, [first, second], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes


@needs_openai_llm
def test_an_unnamed_agent_inside_the_users_run_is_that_run(traced, llm):
    async def go() -> None:
        with agentmetrics.agent("support"):
            await weather_agent(llm, name="Agent").run(user_msg="Is it warm in Lisbon?")

    asyncio.run(go())
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent support"]


@needs_openai_llm
def test_an_agent_workflow_is_one_run_named_after_its_root_agent(traced, llm):
    from llama_index.core.agent.workflow import AgentWorkflow

    async def go() -> None:
        await AgentWorkflow(agents=[weather_agent(llm)]).run(user_msg="Is it warm in Lisbon?")

    asyncio.run(go())
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent forecaster")
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini"]
    (call_id,) = kids[0].attributes["agentmetrics.response.tool_call_ids"]
    assert kids[1].attributes["gen_ai.tool.call.id"] == call_id


def test_uninstrument_restores_the_workflow_and_the_tool(otel):
    from workflows.workflow import Workflow as WorkflowClass

    original_run, original_call = WorkflowClass.__dict__["run"], FunctionTool.__dict__["call"]
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = LlamaIndexInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert WorkflowClass.__dict__["run"] is not original_run
        instrumentor.uninstrument()
    assert WorkflowClass.__dict__["run"] is original_run and FunctionTool.__dict__["call"] is original_call
    assert FunctionTool.from_defaults(get_weather).call(city="Porto").content == "22 degrees in Porto"
    assert otel.finished() == []
