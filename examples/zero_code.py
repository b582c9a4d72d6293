"""Zero-code: this program does not import otel_agentmetrics at all; ``opentelemetry-instrument`` does the work.

    pip install 'otel-agentmetrics[openai]'
    OPENAI_API_KEY=sk-... opentelemetry-instrument python examples/zero_code.py
    agentmetrics report

``opentelemetry-instrument`` finds our instrumentors and our configurator through their entry points: every model
call is traced and priced, and recorded to the local store (``OTEL_TRACES_EXPORTER=agentmetrics``, the default
here). ``OTEL_TRACES_EXPORTER=otlp``, ``OTEL_METRICS_EXPORTER=prometheus`` and the other ``OTEL_*`` variables work as
the OpenTelemetry docs describe; ``OTEL_SERVICE_NAME`` names the service.
"""

import openai

client = openai.OpenAI()
for city in ("Kyoto", "Oaxaca"):
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"Is {city} a good place to visit in spring? One sentence."}],
    )
    print(reply.choices[0].message.content)
