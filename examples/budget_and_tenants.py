"""Cost per tenant with ``attributes()``, and a spending limit per tenant with ``budget()``.

    pip install 'otel-agentmetrics[openai]'
    OPENAI_API_KEY=sk-... python examples/budget_and_tenants.py

Every span made inside ``attributes(tenant=...)`` carries ``tenant``; ``metric_attributes=["tenant"]`` also puts it
on the metrics, so Prometheus answers "dollars per tenant" with
``sum by (tenant) (rate(gen_ai_usage_cost_USD_sum[1h]))``. ``budget(usd=...)`` adds up the exact cost of each
call made inside it; once the spend is over the limit, the next call raises ``BudgetExceeded`` before its request
is sent, so nothing more is billed.
"""

import openai

import otel_agentmetrics

otel_agentmetrics.instrument(service_name="support-desk", metric_attributes=["tenant"])
client = openai.OpenAI()

# Each tenant's questions for today, and what each tenant may spend on them (USD).
WORK = {
    "acme": ["Is Lisbon a good place to visit in spring?", "Is Kyoto a good place to visit in spring?"],
    "globex": ["Write a two-line plan for a weekend in Oaxaca."] * 4,
}
LIMITS = {"acme": 0.001, "globex": 0.00004}


def answer(question: str) -> str:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content or ""


for tenant, questions in WORK.items():
    with otel_agentmetrics.attributes(tenant=tenant), otel_agentmetrics.budget(usd=LIMITS[tenant]) as spend:
        answered = 0
        try:
            for question in questions:
                answer(question)
                answered += 1
        except otel_agentmetrics.BudgetExceeded as stop:
            print(f"{tenant}: stopped after ${stop.spent:.7f} of ${stop.limit:.5f}")
    print(f"{tenant}: {answered} of {len(questions)} answered, ${spend.spent:.7f} spent in {spend.priced_calls} calls")
