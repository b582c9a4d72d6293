"""An ordinary OpenAI program with no telemetry code at all (run under ``opentelemetry-instrument``)."""

import openai

client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
response = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
)
print("answer:", response.choices[0].message.content)
