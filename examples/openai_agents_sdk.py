"""An OpenAI Agents SDK agent with a function tool: the run, each model call and each tool call are traced.

    pip install 'otel-agentmetrics[openai,agents]'
    OPENAI_API_KEY=sk-... python examples/openai_agents_sdk.py

``Runner.run_sync`` becomes an ``invoke_agent weather-assistant`` span with the run's roll-up (model calls, tool
calls, tokens, dollars); the tool runs are ``execute_tool get_weather`` spans linked to the model call that asked
for them. The model here goes through Chat Completions (``OpenAIChatCompletionsModel``), which any
OpenAI-compatible server speaks; the SDK's default Responses model is traced the same way.
"""

import openai
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled

import otel_agentmetrics

otel_agentmetrics.instrument(service_name="agents-sdk-example")
set_tracing_disabled(True)  # the SDK's own tracing uploads to OpenAI; OpenTelemetry has it covered here


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}: 21°C and sunny"


agent = Agent(
    name="weather-assistant",
    instructions="Answer with the help of your tools.",
    tools=[get_weather],
    model=OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=openai.AsyncOpenAI()),
)

with otel_agentmetrics.agent("weather-assistant") as run:  # optional: read the run's numbers in code
    result = Runner.run_sync(agent, "What's the weather in Kyoto this weekend?")
print(result.final_output)
print(f"{run.model_calls} model calls, {run.tool_calls} tool call, ${run.cost:.7f}")
