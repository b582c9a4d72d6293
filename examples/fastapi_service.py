"""A FastAPI service: cost per route, and the dashboard mounted inside the app.

    pip install 'otel-agentmetrics[openai]' fastapi uvicorn opentelemetry-instrumentation-fastapi
    OPENAI_API_KEY=sk-... python examples/fastapi_service.py
    curl 'http://127.0.0.1:8000/plan?city=Kyoto'; curl -X POST 'http://127.0.0.1:8000/check?city=Oaxaca'
    open http://127.0.0.1:8000/agentmetrics/       # the Endpoints table: requests, model calls and $ per route

The FastAPI instrumentation records each request as a SERVER span with its ``http.route``; the model calls made
while serving it are in the same trace, so the summary adds them up per route. The dashboard is an ASGI app
(``dashboard_app()``) mounted under ``/agentmetrics``; outside loopback give it a token.
"""

import os

import openai
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import otel_agentmetrics
from otel_agentmetrics.summary import dashboard_app

otel_agentmetrics.instrument(service_name="trip-api")

app = FastAPI()
client = openai.AsyncOpenAI()


async def ask(question: str) -> str:
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content or ""


@app.get("/plan")
async def plan(city: str) -> dict[str, str]:
    with otel_agentmetrics.agent("planner"):
        days = await ask(f"Write a two-line plan for a weekend in {city}.")
        weather = await ask(f"What's the weather in {city} this weekend? One line.")
    return {"plan": days, "weather": weather}


@app.post("/check")
async def check(city: str) -> dict[str, str]:
    return {"answer": await ask(f"Is {city} a good place to visit in spring? One sentence.")}


# Each request becomes a SERVER span with its route; the dashboard's own requests (it refreshes every 5 s) are left out.
FastAPIInstrumentor.instrument_app(app, excluded_urls="agentmetrics")
app.mount("/agentmetrics", dashboard_app())  # asks for AGENTMETRICS_DASHBOARD_TOKEN when that is set

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
