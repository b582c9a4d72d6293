"""Old import path of :mod:`otel_agentmetrics.instrumentors.google.genai`, kept so existing imports still work."""

from .google.genai import GoogleGenAIInstrumentor

__all__ = ["GoogleGenAIInstrumentor"]
