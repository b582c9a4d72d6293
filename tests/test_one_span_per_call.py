"""One span per call whichever layers are instrumented: an instrumented client called from inside another
instrumented call (LiteLLM calling the ``openai`` SDK, an agent framework's model wrapper calling ``groq``) adds no
span of its own. Driven here with the real ``groq`` client under an outer layer built from the core's wrappers;
``tests/test_litellm.py`` checks the same with LiteLLM and the ``openai`` client.
"""

from __future__ import annotations

import asyncio

import groq
import httpx
import pytest
from wrapt import FunctionWrapper

from otel_agentmetrics._telemetry import Call, Telemetry
from otel_agentmetrics._wrapping import async_wrapper, sync_wrapper
from otel_agentmetrics.instrumentors.llm.groq import GroqInstrumentor
from otel_agentmetrics.record import CallRecord

from .test_groq import COMPLETION, MESSAGES, MODEL
from .wire_format import Wire


def _outer_record(instance, args, kwargs) -> CallRecord:
    return CallRecord(operation="chat", provider="outer", request_model="router-model")


def _outer_done(call: Call, result, args, kwargs):
    call.record.input_tokens = result.usage.prompt_tokens
    call.end()
    return result


@pytest.fixture
def telemetry(otel):
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider)
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()


def test_inner_client_adds_no_span(otel, telemetry):
    wire = Wire(httpx).reply(COMPLETION).reply(COMPLETION)
    client = groq.Groq(api_key="x", http_client=httpx.Client(transport=wire.transport()))

    def route():
        return client.chat.completions.create(model=MODEL, messages=MESSAGES)

    outer = FunctionWrapper(route, sync_wrapper(telemetry, _outer_record, _outer_done))
    outer()
    span = otel.only_span()
    assert span.name == "chat router-model"
    assert span.attributes["gen_ai.usage.input_tokens"] == 18
    tokens = [p.sum for p in otel.metric_points("gen_ai.client.token.usage")]
    assert tokens == [18]  # counted once
    client.chat.completions.create(model=MODEL, messages=MESSAGES)  # on its own, the client has its span again
    assert [s.name for s in otel.finished()] == ["chat router-model", f"chat {MODEL}"]


async def test_inner_async_client_adds_no_span_and_errors_reset_the_flag(otel, telemetry):
    wire = Wire(httpx).reply(COMPLETION).reply(COMPLETION)
    client = groq.AsyncGroq(api_key="x", http_client=httpx.AsyncClient(transport=wire.transport()))

    async def route(fail: bool = False):
        response = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        if fail:
            raise RuntimeError("router failed after the call")
        return response

    outer = FunctionWrapper(route, async_wrapper(telemetry, _outer_record, _outer_done))
    with pytest.raises(RuntimeError):
        await outer(fail=True)
    await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    failed, alone = otel.finished()
    assert failed.name == "chat router-model"
    assert failed.attributes["error.type"] == "RuntimeError"
    assert alone.name == f"chat {MODEL}"


async def test_a_task_spawned_inside_that_calls_after_the_outer_call_ended_has_its_span(otel, telemetry):
    # An async logging or evaluation callback started by the outer call, running once that call is over, makes a
    # billed request of its own: it must be counted.
    wire = Wire(httpx).reply(COMPLETION).reply(COMPLETION)
    client = groq.AsyncGroq(api_key="x", http_client=httpx.AsyncClient(transport=wire.transport()))
    go = asyncio.Event()
    spawned: list[asyncio.Task] = []

    async def evaluate():
        await go.wait()
        return await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    async def route():
        spawned.append(asyncio.create_task(evaluate()))  # the task copies the context, flag included
        return await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    outer = FunctionWrapper(route, async_wrapper(telemetry, _outer_record, _outer_done))
    await outer()
    go.set()
    await spawned[0]
    assert [s.name for s in otel.finished()] == ["chat router-model", f"chat {MODEL}"]
