"""One module, or one package, per instrumented library. Each translates its library's request, response and
stream shapes into a neutral ``CallRecord``; the core (``otel_agentmetrics``) alone turns records into spans,
metrics and cost, and never imports from here (entry points load each instrumentor).

- packages, for adapters of several modules (``__init__`` says what it patches; small modules for requests,
  responses and streams): ``openai/``, ``anthropic/``, ``bedrock/``, ``google/`` (google-genai and vertexai,
  which share one Gemini reader);
- single modules: ``cohere``, ``groq``, ``mistralai``, ``ollama``, ``litellm`` (model calls); ``openai_agents``,
  ``langchain``, ``mcp`` (tool and agent runs);
- shared readers: ``_openai_like`` (OpenAI-shaped chat completions of the OpenAI-compatible providers),
  ``_common`` (optional arguments, server addresses, content), ``_tool_layer`` (tool runs);
- ``google_genai`` and ``vertexai`` are the old import paths of ``google.genai``/``google.vertexai``, kept so
  existing imports still work.
"""
