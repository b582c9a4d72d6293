"""Google's two Gemini SDKs: google-genai (:mod:`.genai`) and the older vertexai SDK (:mod:`.vertexai`).

Both return the same Gemini response, so what they share (usage metadata, finish reasons, content parts and the
response handler) lives once in :mod:`._gemini`; each SDK's module only knows where its calls are made and how
its requests look. Importing this package imports neither SDK.
"""
