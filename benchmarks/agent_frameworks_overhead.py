"""Added cost of tracing agent frameworks, per run and per framework step, against the same runs uninstrumented.

Scenarios, each timed uninstrumented and under ``instrument()`` in alternating rounds of the same process:

- ``langgraph 2-node graph``: a compiled graph of two plain Python nodes (no model): what the agent span alone
  costs per run, with no network in the way.
- ``langgraph react agent``: ``create_react_agent`` + ``ChatOpenAI`` + one tool against the local stand-in server
  (two model calls and a tool run per run: 3 steps), so the figure includes the model-call and tool spans.
- ``agents sdk run_streamed``: the OpenAI Agents SDK's streamed run of an agent with one tool, same stand-in (two
  model calls and a tool run per run), its events read to the end.
- ``pydantic ai run_sync``: a Pydantic AI agent with one tool, same stand-in (two model calls and a tool run).
- ``llamaindex workflow``: a one-step LlamaIndex workflow calling a ``FunctionTool`` (no model): the agent span and
  the tool span (2 steps: the run and the tool).
- ``langchain in-house model``: a custom ``BaseChatModel`` answering at once (no network), invoked alone: the
  model-call span recorded from LangChain's usage (1 step).
- ``agno agent run``, ``smolagents tool agent``, ``strands agent``, ``adk agent``: an agent of each with one tool
  against the same stand-in (``OpenAIChat``, ``OpenAIServerModel``, ``OpenAIModel``; ADK's ``Gemini`` through
  google-genai to the stand-in's Gemini route): two model calls and a tool run per run (3 steps). Each runs where
  its framework is installed (Strands and ADK in their side venvs: run this file with that venv's python).

Spans go through a batch processor to a dropping exporter and metrics to an in-memory reader (what a real setup
pays, minus the network). Prints the median CPU time per run over the rounds (process time, so that other
processes on the machine weigh less), the overhead, and the overhead per step.

    python benchmarks/agent_frameworks_overhead.py [--rounds 5] [--runs 200] [--only agno,strands]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any, TypedDict

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_agentmetrics as agentmetrics
from otel_agentmetrics.demo.server import StandInServer

warnings.filterwarnings("ignore", message="create_react_agent has been moved")
QUESTION = "Is it warm in Lisbon?"


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


class _State(TypedDict):
    n: int


def two_node_graph() -> Callable[[], Any]:
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(_State)
    builder.add_node("plan", lambda state: {"n": state["n"] + 1})
    builder.add_node("act", lambda state: {"n": state["n"] * 2})
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "act")
    builder.add_edge("act", END)
    graph = builder.compile(name="pipeline")
    return lambda: graph.invoke({"n": 1})


def react_agent(server: StandInServer) -> Callable[[], Any]:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    model = ChatOpenAI(model="gpt-4o-mini", base_url=server.openai_url, api_key="bench", max_retries=0)
    graph = create_react_agent(model, [tool(get_weather)], name="forecaster")
    return lambda: graph.invoke({"messages": [("user", QUESTION)]})


def streamed_sdk_run(server: StandInServer) -> Callable[[], Any]:
    import openai
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool

    agent = Agent(
        name="forecaster",
        model=OpenAIChatCompletionsModel(
            model="gpt-4o-mini", openai_client=openai.AsyncOpenAI(api_key="bench", base_url=server.openai_url)
        ),
        model_settings=ModelSettings(include_usage=True),
        tools=[function_tool(get_weather)],
    )
    loop = asyncio.new_event_loop()

    async def once() -> None:
        result = Runner.run_streamed(agent, QUESTION, run_config=RunConfig(tracing_disabled=True))
        async for _ in result.stream_events():
            pass

    return lambda: loop.run_until_complete(once())


def pydantic_ai_run(server: StandInServer) -> Callable[[], Any]:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=server.openai_url, api_key="bench"))
    agent = Agent(model, name="forecaster", tools=[get_weather])
    return lambda: agent.run_sync(QUESTION)


def llamaindex_workflow() -> Callable[[], Any]:
    from llama_index.core.tools import FunctionTool
    from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step

    tool = FunctionTool.from_defaults(get_weather)

    class Forecast(Workflow):
        @step
        async def forecast(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=(await tool.acall(city=ev.city)).content)

    workflow = Forecast()
    loop = asyncio.new_event_loop()

    async def once() -> Any:
        return await workflow.run(city="Lisbon")

    return lambda: loop.run_until_complete(once())


def in_house_model() -> Callable[[], Any]:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class InHouseChat(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "in-house"

        def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
            return {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini", "ls_model_type": "chat"}  # priced

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            usage = {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
            message = AIMessage(content="Mild.", usage_metadata=usage, response_metadata={"model_name": "gpt-4o-mini"})
            return ChatResult(generations=[ChatGeneration(message=message)])

    model = InHouseChat()
    return lambda: model.invoke(QUESTION)


def agno_run(server: StandInServer) -> Callable[[], Any]:
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat

    model = OpenAIChat(id="gpt-4o-mini", base_url=server.openai_url, api_key="bench")
    agent = Agent(name="forecaster", model=model, tools=[get_weather], telemetry=False)
    return lambda: agent.run(QUESTION)


def smolagents_run(server: StandInServer) -> Callable[[], Any]:
    from smolagents import OpenAIServerModel, ToolCallingAgent, tool

    model = OpenAIServerModel("gpt-4o-mini", api_base=server.openai_url, api_key="bench")
    agent = ToolCallingAgent(tools=[tool(weather_with_args)], model=model, name="forecaster", verbosity_level=0)
    return lambda: agent.run(QUESTION)


def weather_with_args(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city to look up.
    """
    return f"22 degrees and sunny in {city}"


def strands_run(server: StandInServer) -> Callable[[], Any]:
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    model = OpenAIModel(client_args={"base_url": server.openai_url, "api_key": "bench"}, model_id="gpt-4o-mini")
    agent = Agent(model=model, tools=[tool(get_weather)], name="forecaster", callback_handler=None)
    return lambda: agent("Is it warm in Lisbon?")


def adk_run(server: StandInServer) -> Callable[[], Any]:
    import os

    from google.adk.agents import LlmAgent
    from google.adk.models.google_llm import Gemini
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    os.environ.setdefault("GOOGLE_API_KEY", "bench")
    model = Gemini(model="gemini-2.5-flash", base_url=server.gemini_url)
    runner = InMemoryRunner(LlmAgent(name="forecaster", model=model, tools=[get_weather]), app_name="bench")
    message = types.Content(role="user", parts=[types.Part(text=QUESTION)])
    loop = asyncio.new_event_loop()

    async def once() -> None:
        session = await runner.session_service.create_session(app_name="bench", user_id="u")
        async for _ in runner.run_async(user_id="u", session_id=session.id, new_message=message):
            pass

    return lambda: loop.run_until_complete(once())


# Scenarios that run where their framework is installed: (name, steps, module, builder).
OPTIONAL: list[tuple[str, int, str, Callable[[StandInServer], Callable[[], Any]]]] = [
    ("agno agent run", 3, "agno", agno_run),
    ("smolagents tool agent", 3, "smolagents", smolagents_run),
    ("strands agent", 3, "strands", strands_run),
    ("adk agent", 3, "google.adk", adk_run),
]


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _per_run(run: Callable[[], Any], runs: int) -> float:
    # CPU time of this process (the stand-in server's threads included, the same in both columns): what tracing
    # adds is CPU work, and on a shared machine wall time mostly measures the other processes.
    start = time.process_time()
    for _ in range(runs):
        run()
    return (time.process_time() - start) / runs


def measure(run: Callable[[], Any], rounds: int, runs: int, providers: tuple[Any, Any]) -> tuple[float, float]:
    """Median seconds per run, uninstrumented and instrumented, from alternating rounds."""
    run()  # warm-up: imports, connections, first-call caches
    plain: list[float] = []
    traced: list[float] = []
    for _ in range(rounds):
        plain.append(_per_run(run, runs))
        telemetry = agentmetrics.instrument(tracer_provider=providers[0], meter_provider=providers[1])
        telemetry.pricer.load()
        run()  # the first instrumented run pays one-off costs (instrument() is not what is measured)
        traced.append(_per_run(run, runs))
        agentmetrics.uninstrument()
    return statistics.median(plain), statistics.median(traced)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated words: the scenarios whose name has one of them")
    options = parser.parse_args()

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=100_000))
    providers = (tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    packages = (
        "langgraph",
        "langchain-core",
        "langchain-openai",
        "openai-agents",
        "pydantic-ai-slim",
        "llama-index-core",
        "openai",
    )
    print(f"python {platform.python_version()} on {platform.machine()}; ", end="")
    print(", ".join(f"{name} {version(name)}" for name in packages))
    frameworks = {"agno": "agno", "smolagents": "smolagents", "strands-agents": "strands", "google-adk": "google.adk"}
    print("; ".join(f"{name} {version(name)}" for name, module in frameworks.items() if _installed(module)))
    print(f"{'scenario':<28}{'steps':>6}{'plain/run':>12}{'traced/run':>12}{'overhead':>11}{'per step':>11}")
    with StandInServer(latency=(0.0, 0.0), chunk_delay=0.0) as server:
        scenarios: list[tuple[str, int, Callable[[], Any]]] = [
            ("langgraph 2-node graph", 2, two_node_graph()),
            ("langgraph react agent", 3, react_agent(server)),
            ("agents sdk run_streamed", 3, streamed_sdk_run(server)),
            ("pydantic ai run_sync", 3, pydantic_ai_run(server)),
            ("llamaindex workflow", 2, llamaindex_workflow()),
            ("langchain in-house model", 1, in_house_model()),
        ]
        wanted = [word for word in options.only.split(",") if word]
        if wanted:
            scenarios = [s for s in scenarios if any(word in s[0] for word in wanted)]
        for name, steps, module, build in OPTIONAL:
            if _installed(module) and (not wanted or any(word in name for word in wanted)):
                scenarios.append((name, steps, build(server)))
        for name, steps, run in scenarios:
            plain, traced = measure(run, options.rounds, options.runs, providers)
            overhead = traced - plain
            print(
                f"{name:<28}{steps:>6}{plain * 1e3:>10.3f}ms{traced * 1e3:>10.3f}ms"
                f"{overhead * 1e6:>9.0f}us{overhead / steps * 1e6:>9.0f}us"
            )
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
