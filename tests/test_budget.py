"""Budgets: exact spend from the calls' own costs, refusal before the next model call, warn-once."""

from __future__ import annotations

import logging

import pytest

import otel_agentmetrics as agentmetrics
from otel_agentmetrics._context import CallRefused

from .scope_kit import PerMillionPricer, by_name, openai_client, scoped_telemetry

# Two recorded calls: 75 in / 51 out, then 99 in / 25 out. At $0.15 / $0.60 per million tokens (gpt-4o-mini):
FIRST = (75 * 0.15 + 51 * 0.60) / 1e6  # $0.00004185
SECOND = (99 * 0.15 + 25 * 0.60) / 1e6  # $0.00002985
PRICER = PerMillionPricer(0.15, 0.60)
MESSAGES = [{"role": "user", "content": "What's the weather in Seattle and San Francisco today?"}]


def ask(client):
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_raise_refuses_the_call_after_the_limit_is_crossed(otel):
    client = openai_client()
    with scoped_telemetry(otel, PRICER):  # noqa: SIM117 - raises checked outside the budget
        with pytest.raises(agentmetrics.BudgetExceeded) as caught, agentmetrics.budget(usd=0.00004) as spent:
            ask(client)  # $0.00004185 > $0.00004: this call completes, it is already paid for
            ask(client)  # refused before the request is sent
    assert caught.value.limit == 0.00004
    assert caught.value.spent == pytest.approx(FIRST, rel=1e-12)
    assert isinstance(caught.value, CallRefused)
    assert str(caught.value).startswith("budget of $0.000040 exceeded: $0.000042 already spent")
    assert spent.priced_calls == 1 and spent.exceeded
    assert len(client.cassette.requests) == 1  # the refused request never reached the transport
    assert len(by_name(otel.finished(), "chat gpt-4o-mini")) == 1


def test_spend_is_exact_and_below_the_limit_calls_go_on(otel):
    client = openai_client()
    with scoped_telemetry(otel, PRICER), agentmetrics.budget(usd=FIRST + SECOND) as spent:
        ask(client)
        ask(client)
    assert spent.spent == pytest.approx(FIRST + SECOND, rel=1e-12)
    assert not spent.exceeded  # exactly at the limit is not over it
    assert spent.remaining == pytest.approx(0.0, abs=1e-15)


def test_budget_crossing_mid_run_stops_the_agent(otel):
    """The agent's roll-up shows what was spent; the refused call never became a span."""
    client = openai_client()
    with (
        scoped_telemetry(otel, PRICER),
        pytest.raises(agentmetrics.BudgetExceeded),
        agentmetrics.agent("spender") as run,
        agentmetrics.budget(usd=0.00001),
    ):
        for _ in range(5):
            ask(client)
    assert run.model_calls == 1
    (agent_span,) = by_name(otel.finished(), "invoke_agent spender")
    assert agent_span.attributes["error.type"] == "BudgetExceeded"
    assert agent_span.attributes["agentmetrics.agent.cost"] == pytest.approx(FIRST, rel=1e-12)


def test_warn_logs_once_and_lets_calls_through(otel, caplog):
    client = openai_client()
    with caplog.at_level(logging.WARNING, "otel_agentmetrics"):  # noqa: SIM117
        with scoped_telemetry(otel, PRICER), agentmetrics.budget(usd=0.00001, on_exceed="warn") as spent:
            ask(client)
            ask(client)
    warnings = [r for r in caplog.records if "budget of $0.000010 exceeded" in r.getMessage()]
    assert len(warnings) == 1
    assert spent.spent == pytest.approx(FIRST + SECOND, rel=1e-12)


def test_nested_budgets_check_their_own_limits(otel):
    client = openai_client()
    with scoped_telemetry(otel, PRICER), agentmetrics.budget(usd=1.0) as outer:
        with pytest.raises(agentmetrics.BudgetExceeded), agentmetrics.budget(usd=0.00001):
            ask(client)
            ask(client)
        ask(client)  # the outer budget still allows it
    assert outer.priced_calls == 2
    assert outer.spent == pytest.approx(FIRST + SECOND, rel=1e-12)


def test_decorated_function_gets_a_fresh_budget_per_call(otel):
    client = openai_client("openai/test_chat_completion_with_content")

    @agentmetrics.budget(usd=1.0)
    def one_call():
        return ask(client)

    with scoped_telemetry(otel, PRICER):
        one_call()


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"usd": -1}, "number >= 0"), ({"usd": 1, "on_exceed": "stop"}, "'raise' or 'warn'")]
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        agentmetrics.budget(**kwargs)


def test_with_the_real_price_table(otel):
    """End to end with the shipped prices: gpt-4o-mini at $0.15 / $0.60 per million tokens."""
    from otel_agentmetrics.pricing import Pricer

    client = openai_client()
    with scoped_telemetry(otel, Pricer()):  # noqa: SIM117
        with pytest.raises(agentmetrics.BudgetExceeded) as caught, agentmetrics.budget(usd=0.00004):
            ask(client)
            ask(client)
    assert caught.value.spent == pytest.approx(FIRST, rel=1e-9)


def test_async_calls_and_tasks_share_the_block_budget(otel):
    """Calls from asyncio tasks started inside the block count against it; the next call is refused."""
    import asyncio

    client = openai_client(async_=True)

    async def main():
        with agentmetrics.budget(usd=0.00004) as spent:
            await asyncio.gather(
                asyncio.create_task(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
            )
            with pytest.raises(agentmetrics.BudgetExceeded):
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return spent

    with scoped_telemetry(otel, PRICER):
        spent = asyncio.run(main())
    assert spent.spent == pytest.approx(FIRST, rel=1e-12)
    assert len(client.cassette.requests) == 1
