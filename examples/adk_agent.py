"""A Google ADK agent traced by ``instrument()`` alone: one ``invoke_agent`` span above its model and tool calls.

Its ``Gemini`` model calls go through google-genai, whose spans are the model calls. Runs offline against the
bundled stand-in of the Gemini API unless ``GOOGLE_API_KEY`` is set:

    pip install otel-agentmetrics google-adk
    python examples/adk_agent.py && agentmetrics report
"""

from __future__ import annotations

import asyncio
import os
from contextlib import nullcontext

import otel_agentmetrics as agentmetrics

agentmetrics.instrument()

from google.adk.agents import LlmAgent  # noqa: E402  (instrument() first, then the libraries)
from google.adk.models.google_llm import Gemini  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

from otel_agentmetrics.demo.server import StandInServer  # noqa: E402


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"22 degrees and sunny in {city}"


async def ask(agent: LlmAgent, question: str) -> str:
    runner = InMemoryRunner(agent=agent, app_name="weather")
    session = await runner.session_service.create_session(app_name="weather", user_id="u-1")
    message = types.Content(role="user", parts=[types.Part(text=question)])
    answer = ""
    async for event in runner.run_async(user_id="u-1", session_id=session.id, new_message=message):
        if event.is_final_response() and event.content and event.content.parts:
            answer = "".join(part.text or "" for part in event.content.parts)
    return answer


def main() -> None:
    offline = not os.environ.get("GOOGLE_API_KEY")
    with StandInServer(latency=(0.0, 0.05)) if offline else nullcontext() as server:
        if server:
            os.environ["GOOGLE_API_KEY"] = "stand-in"  # the stand-in takes any key
        model = Gemini(model="gemini-2.5-flash", base_url=server.gemini_url if server else None)
        agent = LlmAgent(name="forecaster", model=model, tools=[get_weather])
        print(asyncio.run(ask(agent, "Is it warm in Lisbon?")))


if __name__ == "__main__":
    main()
