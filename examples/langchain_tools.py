"""A tool-calling agent loop with LangChain tools: the model calls and each tool run are traced.

    pip install 'otel-agentmetrics[openai]' langchain-core
    OPENAI_API_KEY=sk-... python examples/langchain_tools.py

The tools are LangChain ``@tool`` functions, run with ``tool.invoke(tool_call)`` as LangChain's agents do: each
run is an ``execute_tool`` span carrying the model's tool-call id and linked to the model call that asked for it.
A tool that raises is recorded as failed; with ``handle_tool_error`` the model gets the message and the loop goes
on. Only ``langchain-core`` is needed; a LangChain chat model (``langchain-openai``) in place of the client works
the same way.
"""

import json

import openai
from langchain_core.tools import ToolException, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

import otel_agentmetrics

otel_agentmetrics.instrument(service_name="langchain-example")


@tool
def convert_currency(amount: float, currency: str) -> str:
    """Convert US dollars to another currency."""
    return f"{amount} USD is about {round(amount * 0.92, 2)} {currency}"


@tool
def book_hotel(city: str) -> str:
    """Book a hotel room."""
    raise ToolException(f"no rooms left in {city}")


book_hotel.handle_tool_error = True  # the model reads the error and answers; the span still says it failed


TOOLS = {t.name: t for t in (convert_currency, book_hotel)}
client = openai.OpenAI()


def ask(question: str, tool_names: list[str]) -> str:
    messages: list[dict] = [{"role": "user", "content": question}]
    schemas = [convert_to_openai_tool(TOOLS[name]) for name in tool_names]
    for _ in range(5):  # the agent loop: ask, run the tools the model wants, ask again
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=schemas)
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            tool_call = {"name": call.function.name, "args": json.loads(call.function.arguments), "id": call.id}
            result = TOOLS[call.function.name].invoke({**tool_call, "type": "tool_call"})
            print(f"  tool {call.function.name} -> {result.content}")
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(result.content)})
    return "(gave up after 5 rounds)"


with otel_agentmetrics.agent("travel-desk") as run:
    print(ask("How much is 120 USD in EUR?", ["convert_currency"]))
    print(ask("Book me a hotel in Tallinn.", ["book_hotel"]))
print(f"{run.model_calls} model calls, {run.tool_calls} tool runs, {run.errors} failed, ${run.cost:.7f}")
