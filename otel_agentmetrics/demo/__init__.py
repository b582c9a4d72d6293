"""``agentmetrics demo``: a small agent against a local stand-in for the OpenAI and Anthropic APIs (offline), or
against the real APIs with ``--live``, recorded by ``instrument()`` and shown by the summary view."""
