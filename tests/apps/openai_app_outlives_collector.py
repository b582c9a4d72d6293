"""The program of openai_app.py, which ends only once nothing listens at its OTLP endpoint any more.

The test's collector goes away as the first export reaches it, so that export is still retrying (against a
refused connection) when this program exits. The wait below is the test's timing, not telemetry code.
"""

import os
import socket
import time
from urllib.parse import urlsplit

import openai

client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
response = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
)
endpoint = urlsplit(os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        socket.create_connection((endpoint.hostname, endpoint.port), timeout=1).close()
    except ConnectionRefusedError:
        break
    time.sleep(0.05)
else:
    raise SystemExit("the collector never went away")
print("answer:", response.choices[0].message.content)
