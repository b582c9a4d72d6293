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
- ``langchain AgentExecutor``: the legacy executor (``langchain-classic``) with a tool-calling agent, ``ChatOpenAI``
  and one tool against the stand-in (two model calls and a tool run: 3 steps).
- ``pydantic ai, its tracing on``: the Pydantic AI run above with ``instrument=`` its own OpenTelemetry tracing on
  the same providers in both columns: what ours costs once theirs stands down (3 steps).
- ``llamaindex custom llm``: a ``CustomLLM`` answering at once (no network), ``complete`` called alone: the
  model-call span recorded from LlamaIndex's usage (1 step).
- ``haystack agent``: a Haystack ``Agent`` with ``OpenAIChatGenerator`` and one tool against the stand-in (3 steps).
- ``claude agent sdk messages``: the messages of one real Claude Code CLI run (two model requests, one tool, with
  the partial messages we ask for), recorded once from the bundled CLI against the stand-in and then replayed
  through the SDK-facing wrapper: only our reading of the messages is timed, not the CLI (3 steps).
- ``autogen team``: an AutoGen ``RoundRobinGroupChat`` of one ``AssistantAgent`` with a tool against the stand-in
  (team run, agent turn, two model calls and a tool run: 5 steps). Only where AutoGen is installed (its venv:
  ``~/.cache/otel-agentmetrics/venv-autogen-*/bin/python benchmarks/agent_frameworks_overhead.py``).
- ``dspy react``: a ``dspy.ReAct`` agent with one tool against the stand-in, DSPy's own engine, cache off (agent
  run, three model calls recorded from DSPy's usage report, a tool run: 5 steps). Only where DSPy is installed
  (its venv, as for AutoGen).
- ``agno agent run``, ``smolagents tool agent``, ``strands agent``, ``adk agent``: an agent of each with one tool
  against the same stand-in (``OpenAIChat``, ``OpenAIServerModel``, ``OpenAIModel``; ADK's ``Gemini`` through
  google-genai to the stand-in's Gemini route): two model calls and a tool run per run (3 steps). Each runs where
  its framework is installed (Strands and ADK in their side venvs: ``tests/strands-env.sh``, ``tests/adk-env.sh``
  build them; run this file with that venv's python).

Spans go through a batch processor to a dropping exporter and metrics to an in-memory reader (what a real setup
pays, minus the network). Prints the median CPU time per run over the rounds (process time, so that other
processes on the machine weigh less), the overhead, and the overhead per step.

    python benchmarks/agent_frameworks_overhead.py [--rounds 5] [--runs 200]

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


def agent_executor(server: StandInServer) -> Callable[[], Any]:
    from langchain_classic.agents import AgentExecutor, create_tool_calling_agent
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=server.openai_url, api_key="bench", max_retries=0, stream_usage=True
    )
    prompt = ChatPromptTemplate.from_messages([("human", "{input}"), ("placeholder", "{agent_scratchpad}")])
    tools = [tool(get_weather)]
    executor = AgentExecutor(agent=create_tool_calling_agent(model, tools, prompt), tools=tools)
    return lambda: executor.invoke({"input": QUESTION})


def pydantic_ai_traced_by_itself(server: StandInServer, providers: tuple[Any, Any]) -> Callable[[], Any]:
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=server.openai_url, api_key="bench"))
    settings = InstrumentationSettings(tracer_provider=providers[0], meter_provider=providers[1])
    agent = Agent(model, name="forecaster", tools=[get_weather])
    agent.instrument = settings
    return lambda: agent.run_sync(QUESTION)


def llamaindex_custom_llm() -> Callable[[], Any]:
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    class LocalLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="gpt-4o-mini")  # priced

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            return CompletionResponse(text="Mild.", additional_kwargs={"prompt_tokens": 12, "completion_tokens": 3})

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            yield self.complete(prompt)

    llm = LocalLLM()
    return lambda: llm.complete(QUESTION)


def haystack_agent(server: StandInServer) -> Callable[[], Any]:
    from haystack.components.agents import Agent
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.tools import create_tool_from_function
    from haystack.utils import Secret

    generator = OpenAIChatGenerator(
        api_key=Secret.from_token("bench"), model="gpt-4o-mini", api_base_url=server.openai_url
    )
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(get_weather)])
    messages = [ChatMessage.from_user(QUESTION)]
    return lambda: agent.run(messages=messages)


def claude_agent_sdk_messages(server: StandInServer) -> Callable[[], Any] | None:
    """One real CLI run recorded (its parsed messages, partial ones included), then replayed through the wrapper
    the SDK's ``process_query`` gets: the CLI's own seconds are not ours, reading its messages is."""
    import tempfile

    try:
        from claude_agent_sdk import ClaudeAgentOptions, create_sdk_mcp_server, query, tool
        from claude_agent_sdk._internal.client import InternalClient
    except ImportError:
        return None

    @tool("get_weather", "Current weather for a city", {"city": str})
    async def weather(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": get_weather(args["city"])}]}

    home = tempfile.mkdtemp()
    options = ClaudeAgentOptions(
        model="claude-3-5-haiku-20241022", tools=[], allowed_tools=["mcp__weather__get_weather"],
        mcp_servers={"weather": create_sdk_mcp_server("weather", tools=[weather])}, setting_sources=[], cwd=home,
        env={"ANTHROPIC_BASE_URL": server.anthropic_url, "ANTHROPIC_API_KEY": "bench", "HOME": home,
             "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
        include_partial_messages=True, max_turns=4,
    )  # fmt: skip

    async def record() -> list[Any]:
        return [message async for message in query(prompt=QUESTION, options=options)]

    try:
        recorded = asyncio.run(record())
    except Exception as error:  # no CLI in this wheel, or it cannot start here
        print(f"(claude agent sdk skipped: {error})")
        return None
    quiet = ClaudeAgentOptions()  # the caller did not ask for partial messages: the wrapper hides them again

    async def replay(self: Any, prompt: Any, options: Any, transport: Any = None) -> Any:
        for message in recorded:
            yield message

    # The SDK's process_query is now the replay (benchmark only, before any instrument()): instrument() wraps it
    # as it would wrap the real one, and uninstrument() puts the replay back.
    InternalClient.process_query = replay  # type: ignore[method-assign]
    client = InternalClient()
    loop = asyncio.new_event_loop()

    async def once() -> None:
        async for _ in client.process_query(QUESTION, quiet):
            pass

    return lambda: loop.run_until_complete(once())


def autogen_team(server: StandInServer) -> Callable[[], Any] | None:
    try:
        from autogen_agentchat.agents import AssistantAgent
        from autogen_agentchat.teams import RoundRobinGroupChat
        from autogen_ext.models.openai import OpenAIChatCompletionClient
    except ImportError:
        return None

    async def weather(city: str) -> str:
        """Current weather for a city."""
        return get_weather(city)

    client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=server.openai_url, api_key="bench")
    agent = AssistantAgent("forecaster", model_client=client, tools=[weather], reflect_on_tool_use=True)
    team = RoundRobinGroupChat([agent], max_turns=1, name="weather_desk")
    loop = asyncio.new_event_loop()

    async def once() -> None:
        await team.reset()
        await team.run(task=QUESTION)

    return lambda: loop.run_until_complete(once())


def dspy_react(server: StandInServer) -> Callable[[], Any] | None:
    try:
        import dspy
    except ImportError:
        return None

    class Forecast(dspy.Signature):
        """Answer weather questions."""

        question: str = dspy.InputField()
        answer: str = dspy.OutputField()

    lm = dspy.LM("openai/gpt-4o-mini", api_base=server.openai_url, api_key="bench", cache=False)
    agent = dspy.ReAct(Forecast, tools=[get_weather], max_iters=3)

    def once() -> Any:
        with dspy.context(lm=lm):
            return agent(question=QUESTION)

    return once


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


# Scenarios that run where their framework is installed: (name, steps, distribution, builder).
OPTIONAL: list[tuple[str, int, str, Callable[[StandInServer], Callable[[], Any]]]] = [
    ("agno agent run", 3, "agno", agno_run),
    ("smolagents tool agent", 3, "smolagents", smolagents_run),
    ("strands agent", 3, "strands-agents", strands_run),
    ("adk agent", 3, "google-adk", adk_run),
]


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


def _installed(name: str) -> bool:
    try:
        version(name)
    except Exception:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--only", default="", help="run only the scenarios whose name contains this")
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
        "langchain-classic",
        "haystack-ai",
        "claude-agent-sdk",
    )
    packages += tuple(name for name in ("autogen-agentchat", "dspy") if _installed(name))
    packages += tuple(package for _, _, package, _ in OPTIONAL if _installed(package))
    print(f"python {platform.python_version()} on {platform.machine()}; ", end="")
    print(", ".join(f"{name} {version(name)}" for name in packages))
    print(f"{'scenario':<28}{'steps':>6}{'plain/run':>12}{'traced/run':>12}{'overhead':>11}{'per step':>11}")
    with StandInServer(latency=(0.0, 0.0), chunk_delay=0.0) as server:
        scenarios: list[tuple[str, int, Callable[[], Any]]] = [
            ("langgraph 2-node graph", 2, two_node_graph()),
            ("langgraph react agent", 3, react_agent(server)),
            ("agents sdk run_streamed", 3, streamed_sdk_run(server)),
            ("pydantic ai run_sync", 3, pydantic_ai_run(server)),
            ("llamaindex workflow", 2, llamaindex_workflow()),
            ("langchain in-house model", 1, in_house_model()),
            ("langchain AgentExecutor", 3, agent_executor(server)),
            ("pydantic ai, its tracing on", 3, pydantic_ai_traced_by_itself(server, providers)),
            ("llamaindex custom llm", 1, llamaindex_custom_llm()),
            ("haystack agent", 3, haystack_agent(server)),
        ]
        react = dspy_react(server)
        if react is not None:
            scenarios.append(("dspy react", 5, react))
        team = autogen_team(server)
        if team is not None:
            scenarios.append(("autogen team", 5, team))
        claude = claude_agent_sdk_messages(server)
        if claude is not None:
            scenarios.append(("claude agent sdk messages", 3, claude))
        for name, steps, package, build in OPTIONAL:
            if _installed(package) and options.only in name:
                scenarios.append((name, steps, build(server)))
        for name, steps, run in scenarios:
            if options.only not in name:
                continue
            plain, traced = measure(run, options.rounds, options.runs, providers)
            overhead = traced - plain
            print(
                f"{name:<28}{steps:>6}{plain * 1e3:>10.3f}ms{traced * 1e3:>10.3f}ms"
                f"{overhead * 1e6:>9.0f}us{overhead / steps * 1e6:>9.0f}us"
            )
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
