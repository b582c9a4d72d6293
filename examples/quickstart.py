"""Quick start: one call to ``instrument()``, then the OpenAI client as usual.

    pip install 'otel-agentmetrics[openai]'
    OPENAI_API_KEY=sk-... python examples/quickstart.py
    agentmetrics report            # what was recorded: calls, tokens, dollars, latency

Every call becomes an OpenTelemetry span (``chat gpt-4o-mini``) with its tokens and cost, and points of the GenAI
metrics. By default they go to a local store that ``agentmetrics report`` and ``agentmetrics serve`` read; set
``OTEL_TRACES_EXPORTER=otlp`` to send them to Jaeger, Tempo or a collector instead.
"""

import openai

import otel_agentmetrics

otel_agentmetrics.instrument(service_name="quickstart")  # once, at start-up, before the clients are created

client = openai.OpenAI()  # OPENAI_API_KEY, and OPENAI_BASE_URL for an OpenAI-compatible server
with otel_agentmetrics.agent("quickstart") as run:  # optional: read the numbers of this block in code
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Is Lisbon a good place to visit in spring? One sentence."}],
    )
print(reply.choices[0].message.content)
print(f"{run.model_calls} call, {run.input_tokens} input + {run.output_tokens} output tokens, ${run.cost:.7f}")
