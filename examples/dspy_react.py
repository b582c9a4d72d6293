"""A DSPy ReAct agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Runs offline against the bundled stand-in of the OpenAI API unless ``OPENAI_API_KEY`` is set:

    pip install otel-agentmetrics dspy
    python examples/dspy_react.py && agentmetrics report
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

import dspy  # noqa: E402  (instrument() first, then the libraries)

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


class Forecast(dspy.Signature):
    """Answer weather questions."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


def main() -> None:
    offline = not os.environ.get("OPENAI_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        options = {"api_base": server.openai_url, "api_key": "stand-in"} if server else {}
        # cache=False: a cached answer makes no model call, so it would not be seen (nor paid for).
        lm = dspy.LM("openai/gpt-4o-mini", cache=False, **options)
        with dspy.context(lm=lm):
            print(dspy.ReAct(Forecast, tools=[get_weather], max_iters=3)(question="Is it warm in Lisbon?").answer)


if __name__ == "__main__":
    main()
