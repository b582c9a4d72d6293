"""Old import path of :mod:`otel_agentmetrics.instrumentors.google.vertexai`, kept so existing imports still work."""

from .google.vertexai import VertexAIInstrumentor

__all__ = ["VertexAIInstrumentor"]
