"""The core's agent layer (``otel_agentmetrics/_agent_layer.py``) on its own: the wrappers every agent-framework
instrumentor builds its runs with. A framework's call is a plain function, a coroutine function, a generator or an
async generator here; the integrations' own tests drive the same wrappers through the real frameworks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from otel_agentmetrics._agent_layer import (
    aiter_run_wrapper,
    async_run_wrapper,
    fail_open,
    iter_run_wrapper,
    sync_run_wrapper,
)
from otel_agentmetrics.agents import start_agent

from .fault_kit import internal_errors_logged
from .scope_kit import scoped_telemetry


class Framework:
    name = "planner"


@fail_open("opening a test run")
def _open(telemetry: Any, instance: Any, *_: Any) -> Any:
    return start_agent(telemetry, instance.name)


@fail_open("opening a test run")
def _broken(telemetry: Any, instance: Any, *_: Any) -> Any:
    raise RuntimeError("a bug of ours")


def _steps(n: int) -> Any:
    yield from range(n)
    return "done"


async def _asteps(n: int) -> Any:
    for i in range(n):
        yield i


@pytest.fixture
def telemetry(otel):
    with scoped_telemetry(otel, openai_client=False) as telemetry:
        yield telemetry


def test_a_call_and_a_coroutine_each_one_run(otel, telemetry):
    assert sync_run_wrapper(telemetry, _open)(lambda x: x + 1, Framework(), (1,), {}) == 2

    async def double(x: int) -> int:
        return 2 * x

    assert asyncio.run(async_run_wrapper(telemetry, _open)(double, Framework(), (2,), {})) == 4
    assert [s.name for s in otel.finished()] == ["invoke_agent planner"] * 2


def test_a_generator_opens_its_run_when_iterated_and_keeps_its_return_value(otel, telemetry):
    steps = iter_run_wrapper(telemetry, _open)(_steps, Framework(), (3,), {})
    assert otel.finished() == []  # nothing opened before the caller iterates
    assert next(steps) == 0
    assert otel.finished() == []
    assert list(steps) == [1, 2]
    with pytest.raises(StopIteration):
        next(steps)
    (span,) = otel.finished()
    assert span.name == "invoke_agent planner"

    def returns() -> Any:
        return (yield from iter_run_wrapper(telemetry, _open)(_steps, Framework(), (1,), {}))

    gen = returns()
    next(gen)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"


def test_an_async_generator_closed_early_ends_its_run(otel, telemetry):
    async def main() -> list[int]:
        steps = aiter_run_wrapper(telemetry, _open)(_asteps, Framework(), (5,), {})
        assert otel.finished() == []
        got = [await steps.__anext__(), await steps.__anext__()]
        await steps.aclose()
        return got

    assert asyncio.run(main()) == [0, 1]
    (span,) = otel.finished()
    assert span.name == "invoke_agent planner"


def test_a_failing_call_fails_its_run_with_the_same_exception(otel, telemetry):
    def fails() -> None:
        raise ValueError("theirs")

    with pytest.raises(ValueError, match="theirs"):
        sync_run_wrapper(telemetry, _open)(fails, Framework(), (), {})
    (span,) = otel.finished()
    assert span.attributes["error.type"] == "ValueError"


def test_an_opener_that_raises_leaves_the_call_untraced(otel, telemetry, caplog):
    with internal_errors_logged():
        check_untraced(telemetry)
    assert "opening a test run" in caplog.text
    assert otel.finished() == []


def check_untraced(telemetry: Any) -> None:
    assert sync_run_wrapper(telemetry, _broken)(lambda: "ok", Framework(), (), {}) == "ok"
    assert list(iter_run_wrapper(telemetry, _broken)(_steps, Framework(), (2,), {})) == [0, 1]

    async def collect() -> list[int]:
        return [i async for i in aiter_run_wrapper(telemetry, _broken)(_asteps, Framework(), (2,), {})]

    assert asyncio.run(collect()) == [0, 1]
