"""The demo agent: a small trip planner that uses two providers, tools, a streamed answer, and fails on purpose.

It is ordinary application code: the real ``openai`` and ``anthropic`` clients, tools marked with
``otel_agentmetrics.tool`` and runs marked with ``otel_agentmetrics.agent``. Everything it does is recorded by
``otel_agentmetrics.instrument()``, which the ``agentmetrics demo`` command calls before creating the clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import otel_agentmetrics as agentmetrics

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
MISSING_MODEL = "gpt-4o-mini-typo"  # a model name that does not exist: the demo's failing call

CITIES = ("Lisbon", "Kyoto", "Oaxaca", "Tallinn", "Hobart")


@agentmetrics.tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}: 21°C and sunny"


@agentmetrics.tool
def convert_currency(amount: float, currency: str) -> str:
    """Convert US dollars to another currency."""
    return f"{amount} USD is about {round(amount * 0.92, 2)} {currency}"


@agentmetrics.tool
def book_hotel(city: str) -> str:
    """Book a hotel room (always fails in the demo, to show a failing tool)."""
    raise RuntimeError(f"no rooms left in {city} for those dates")


_TOOLS: dict[str, Callable[..., str]] = {"get_weather": get_weather, "convert_currency": convert_currency}


@dataclass
class Clients:
    openai: Any | None
    anthropic: Any | None
    openai_model: str = OPENAI_MODEL
    anthropic_model: str = ANTHROPIC_MODEL


def make_clients(openai_url: str | None, anthropic_url: str | None, live: bool) -> Clients:
    """Real clients: pointed at the stand-in server, or (``live``) at the real APIs with the keys in the
    environment. Created after ``instrument()``, as the docs ask."""
    import os

    openai_client = anthropic_client = None
    try:
        import openai

        if not live:
            openai_client = openai.OpenAI(base_url=openai_url, api_key="demo-key", max_retries=0)
        elif os.environ.get("OPENAI_API_KEY"):
            openai_client = openai.OpenAI(max_retries=0)
    except ImportError:
        pass
    try:
        import anthropic

        if not live:
            anthropic_client = anthropic.Anthropic(base_url=anthropic_url, api_key="demo-key", max_retries=0)
        elif os.environ.get("ANTHROPIC_API_KEY"):
            anthropic_client = anthropic.Anthropic(max_retries=0)
    except ImportError:
        pass
    return Clients(openai_client, anthropic_client)


def _openai_tool(func: Callable[..., Any], params: dict[str, str]) -> dict[str, Any]:
    properties = {name: {"type": kind} for name, kind in params.items()}
    return {
        "type": "function",
        "function": {
            "name": func.__name__,
            "description": (func.__doc__ or "").strip(),
            "parameters": {"type": "object", "properties": properties, "required": list(params)},
        },
    }


def _openai_with_tool(client: Any, model: str, question: str, out: TextIO) -> str:
    """Ask, run the tool the model asks for, and ask again with the result: two model calls, one tool call."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    tools = [_openai_tool(get_weather, {"city": "string"})]
    first = client.chat.completions.create(model=model, messages=messages, tools=tools)
    reply = first.choices[0].message
    messages.append(reply.model_dump(exclude_none=True))
    for call in reply.tool_calls or []:
        result = _TOOLS[call.function.name](**json.loads(call.function.arguments))
        out.write(f"    tool {call.function.name} -> {result}\n")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = client.chat.completions.create(model=model, messages=messages, tools=tools)
    return str(second.choices[0].message.content)


def _anthropic_with_tool(client: Any, model: str, question: str, out: TextIO) -> str:
    tools = [
        {
            "name": "convert_currency",
            "description": "Convert US dollars to another currency.",
            "input_schema": {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
                "required": ["amount", "currency"],
            },
        }
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    first = client.messages.create(model=model, max_tokens=300, messages=messages, tools=tools)
    messages.append({"role": "assistant", "content": [block.model_dump() for block in first.content]})
    results = []
    for block in first.content:
        if block.type == "tool_use":
            result = _TOOLS[block.name](**block.input)
            out.write(f"    tool {block.name} -> {result}\n")
            results.append({"type": "tool_result", "tool_use_id": block.id, "content": result})
    messages.append({"role": "user", "content": results})
    second = client.messages.create(model=model, max_tokens=300, messages=messages, tools=tools)
    return "".join(block.text for block in second.content if block.type == "text")


def _stream_summary(clients: Clients, city: str, out: TextIO) -> None:
    """A streamed answer, printed as it arrives (OpenAI when available, else Anthropic)."""
    prompt = f"Write a two-line plan for a weekend in {city}."
    out.write("    streaming: ")
    if clients.openai is not None:
        stream = clients.openai.chat.completions.create(
            model=clients.openai_model,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                out.write(chunk.choices[0].delta.content)
                out.flush()
    elif clients.anthropic is not None:
        with clients.anthropic.messages.stream(
            model=clients.anthropic_model, max_tokens=200, messages=[{"role": "user", "content": prompt}]
        ) as stream:
            for text in stream.text_stream:
                out.write(text)
                out.flush()
    out.write("\n")


def plan_trip(clients: Clients, city: str, out: TextIO) -> None:
    """One run of the ``trip-planner`` agent."""
    with agentmetrics.agent("trip-planner"):
        if clients.openai is not None:
            question = f"What's the weather in {city} this weekend?"
            answer = _openai_with_tool(clients.openai, clients.openai_model, question, out)
            out.write(f"    {clients.openai_model}: {answer}\n")
        if clients.anthropic is not None:
            answer = _anthropic_with_tool(
                clients.anthropic, clients.anthropic_model, "How much is 120 USD in EUR?", out
            )
            out.write(f"    {clients.anthropic_model}: {answer}\n")
        try:
            book_hotel(city)
        except RuntimeError as error:
            out.write(f"    tool book_hotel failed: {error} (the agent carries on)\n")
        _stream_summary(clients, city, out)


def check_facts(clients: Clients, city: str, out: TextIO) -> None:
    """One run of the ``fact-checker`` agent, whose second call names a model that does not exist."""
    with agentmetrics.agent("fact-checker"):
        question = f"Is {city} a good place to visit in spring? One sentence."
        if clients.anthropic is not None:
            reply = clients.anthropic.messages.create(
                model=clients.anthropic_model, max_tokens=100, messages=[{"role": "user", "content": question}]
            )
            out.write(f"    {clients.anthropic_model}: {reply.content[0].text}\n")
        if clients.openai is not None:
            try:
                clients.openai.chat.completions.create(
                    model=MISSING_MODEL, messages=[{"role": "user", "content": question}]
                )
            except Exception as error:  # the failure is the point: it shows up in the report's errors
                out.write(f"    {MISSING_MODEL} failed: {type(error).__name__}\n")


PLAN_ROUTE = "/trips/{city}/plan"


def serve_plan_request(clients: Clients, city: str, out: TextIO) -> None:
    """The trip planner behind a web endpoint, as a web app runs it: the SERVER span with ``http.route`` is what
    FastAPI's or Flask's OpenTelemetry instrumentation records for a request, and it puts the request's model
    calls and dollars in the summary's Endpoints table."""
    from opentelemetry import trace

    tracer = trace.get_tracer("otel_agentmetrics.demo")
    attributes = {"http.request.method": "POST", "http.route": PLAN_ROUTE, "url.path": f"/trips/{city}/plan"}
    with tracer.start_as_current_span(f"POST {PLAN_ROUTE}", kind=trace.SpanKind.SERVER, attributes=attributes) as span:
        plan_trip(clients, city, out)
        span.set_attribute("http.response.status_code", 200)


def run(clients: Clients, runs: int, out: TextIO) -> None:
    for i in range(runs):
        city = CITIES[i % len(CITIES)]
        out.write(f"run {i + 1}/{runs}: trip-planner for {city} (POST /trips/{city}/plan)\n")
        serve_plan_request(clients, city, out)
        out.write(f"run {i + 1}/{runs}: fact-checker for {city}\n")
        check_facts(clients, city, out)
