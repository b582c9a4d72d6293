"""DSPy: a real ``dspy.ReAct`` agent whose ``dspy.LM`` calls the real LiteLLM (and, below it, the real ``openai``
client) against a local stand-in of the OpenAI chat API that answers in DSPy's chat-adapter format: it asks for the
weather tool, then for ``finish``, then extracts the answer from the observation. DSPy moves shared versions
(boto3, importlib-metadata), so these run in a venv of their own: ``bash tests/dspy-env.sh``."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch LiteLLM's price map
if os.environ.get("DSPY_TESTS_REQUIRED"):  # set by tests/dspy-env.sh: DSPy must be there
    import dspy
else:
    dspy = pytest.importorskip("dspy", reason="DSPy runs in its own environment: bash tests/dspy-env.sh")

import otel_agentmetrics as agentmetrics  # noqa: E402
from otel_agentmetrics.instrumentors.agents.dspy import DSPyInstrumentor  # noqa: E402
from otel_agentmetrics.instrumentors.llm.litellm import LiteLLMInstrumentor  # noqa: E402

from .scope_kit import PerMillionPricer, assert_rollup, by_name, children, scoped_telemetry  # noqa: E402

PRICER = PerMillionPricer(0.15, 0.60)


def _fields(**fields: str) -> str:
    return "\n\n".join(f"[[ ## {name} ## ]]\n{value}" for name, value in fields.items()) + "\n\n[[ ## completed ## ]]"


def _answer(messages: list[dict]) -> str:
    system = str(messages[0].get("content"))
    user = str(messages[-1].get("content"))
    if "next_tool_name" in system:  # a ReAct step
        if "observation_0" not in user:
            return _fields(next_thought="I need the weather.", next_tool_name="get_weather",
                           next_tool_args=json.dumps({"city": "Lisbon"}))  # fmt: skip
        return _fields(next_thought="I have what I need.", next_tool_name="finish", next_tool_args="{}")
    observation = user.split("[[ ## observation_0 ## ]]")[1].split("[[ ##")[0].strip()
    return _fields(reasoning="From the observation.", answer=f"Here is what I found: {observation.splitlines()[0]}")


@contextmanager
def dspy_stand_in() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            text = _answer(body["messages"])
            prompt, completion = len(json.dumps(body["messages"])) // 4, len(text) // 4
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            payload = json.dumps({
                "id": "chatcmpl-dspy", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["native", "litellm"])
def llm(request):
    """DSPy's own engine (HTTP by itself: recorded from DSPy's usage report) or LiteLLM (its instrumentor's span)."""
    engine = {} if request.param == "native" else {"engine": "litellm"}
    with dspy_stand_in() as url:
        yield dspy.LM("openai/gpt-4o-mini", api_base=url, api_key="test", cache=False, num_retries=0, **engine)


@pytest.fixture
def traced(otel):
    with scoped_telemetry(otel, PRICER) as telemetry:
        instrumentors = [LiteLLMInstrumentor(), DSPyInstrumentor()]
        for instrumentor in instrumentors:
            instrumentor.instrument(telemetry=telemetry)
        yield otel
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


class Forecast(dspy.Signature):
    """Answer weather questions."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees in {city}"


def broken_weather(city: str) -> str:
    """Current weather for a city."""
    raise ConnectionError("weather service down")


def agent(tool=get_weather) -> dspy.ReAct:
    return dspy.ReAct(Forecast, tools=[dspy.Tool(tool, name="get_weather")], max_iters=3)


def tree(llm) -> list[str]:
    # The LiteLLM instrumentor names the call after the model as LiteLLM was given it.
    chat = "chat openai/gpt-4o-mini" if llm.engine == "litellm" else "chat gpt-4o-mini"
    return [chat, "execute_tool get_weather", chat, chat]


def test_a_react_run_is_one_agent_run_above_its_model_and_tool_calls(traced, llm):
    with dspy.context(lm=llm):
        assert agent()(question="Is it warm in Lisbon?").answer == "Here is what I found: 22 degrees in Lisbon"
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent Forecast")
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == tree(llm)  # the weather call, then finish (no tool run), then the extraction
    assert len(spans) == 5
    assert kids[1].attributes["gen_ai.tool.description"] == "Current weather for a city."
    chats = [kids[0], kids[2], kids[3]]
    assert all(c.attributes["gen_ai.provider.name"] == "openai" for c in chats)
    assert_rollup(agent_span, chats, tool_calls=1, errors=0)


def test_acall_and_a_failing_tool(traced, llm):
    async def go() -> str:
        with dspy.context(lm=llm):
            return (await agent(broken_weather).acall(question="Is it warm in Lisbon?")).answer

    assert asyncio.run(go()).startswith("Here is what I found: Execution error in get_weather")
    spans = traced.finished()
    (agent_span,) = by_name(spans, "invoke_agent Forecast")
    kids = children(spans, agent_span)
    assert [s.name for s in kids] == tree(llm)
    assert kids[1].attributes["error.type"] == "ConnectionError"
    assert_rollup(agent_span, [kids[0], kids[2], kids[3]], tool_calls=1, errors=1)
    assert "error.type" not in agent_span.attributes


def test_an_unnamed_signature_inside_the_users_run_is_that_run(traced, llm):
    with agentmetrics.agent("support") as run, dspy.context(lm=llm):
        dspy.ReAct("question -> answer", tools=[dspy.Tool(get_weather)], max_iters=3)(question="Is it warm in Lisbon?")
    spans = traced.finished()
    assert [s.name for s in spans if s.name.startswith("invoke_agent")] == ["invoke_agent support"]
    assert (run.model_calls, run.tool_calls) == (3, 1)


def test_uninstrument_restores_dspy(otel):
    from dspy.adapters.types.tool import Tool
    from dspy.predict.react import ReAct

    original = (ReAct.__dict__["forward"], Tool.__dict__["__call__"])
    with scoped_telemetry(otel, PRICER, openai_client=False) as telemetry:
        instrumentor = DSPyInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        assert ReAct.__dict__["forward"] is not original[0]
        instrumentor.uninstrument()
    assert (ReAct.__dict__["forward"], Tool.__dict__["__call__"]) == original


def test_dspy_react_example(tmp_path):
    """examples/dspy_react.py as a user runs it (it starts the demo stand-in itself), read back from the store."""
    from otel_agentmetrics.summary import summary

    from .examples_kit import all_stored_spans, run_bare

    assert (
        run_bare("dspy_react.py", tmp_path, LITELLM_LOCAL_MODEL_COST_MAP="True")
        == "Here is what I found: 22 degrees and sunny in Lisbon. Enjoy the trip!\n"
    )
    rows = all_stored_spans(tmp_path)
    by_kind = {kind: [r["name"] for r in rows if r["kind"] == kind] for kind in ("agent", "tool", "model")}
    assert by_kind == {
        "agent": ["invoke_agent Forecast"],
        "tool": ["execute_tool get_weather"],
        "model": ["chat gpt-4o-mini"] * 3,
    }
    models = [r for r in rows if r["kind"] == "model"]
    for m in models:  # gpt-4o-mini: $0.15 / $0.075 cached / $0.60 per million tokens
        cached = int(m["cache_read_tokens"] or 0)
        dollars = (int(m["input_tokens"]) - cached) * 0.15 + cached * 0.075 + int(m["output_tokens"]) * 0.60
        assert m["cost"] == pytest.approx(dollars / 1e6, rel=1e-9)
    (stats,) = [a for a in summary(tmp_path / "store.sqlite3").by_agent if a.name == "Forecast"]
    assert stats.model_calls == 3
    assert stats.cost_usd == pytest.approx(sum(float(m["cost"]) for m in models), rel=1e-9)
