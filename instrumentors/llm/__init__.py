"""Model clients: one module or package per client library (openai, anthropic, bedrock, google, mistralai, cohere,
groq, ollama, litellm). Shared here: ``_openai_like`` (OpenAI-shaped chat readers) and ``_common`` (message content).
"""
