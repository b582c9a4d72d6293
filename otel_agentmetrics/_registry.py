"""Our instrumentors, found through the ``opentelemetry_instrumentor`` entry points (never imported directly), and
the modules whose import loads each one (``instrument()`` loads an instrumentor when its library is imported)."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from ._installed import Installed, distribution

_PREFIX = "agentmetrics_"
_MODULE = "otel_agentmetrics.instrumentors."
_GROUP = "opentelemetry_instrumentor"

LIBRARIES: dict[str, tuple[str, ...]] = {
    "a2a": ("a2a",),
    "adk": ("google.adk",),
    "agno": ("agno",),
    "anthropic": ("anthropic",),
    "autogen": ("autogen_agentchat", "autogen_core", "autogen_ext"),
    "bedrock": ("botocore",),
    "chromadb": ("chromadb",),
    "claude_agent_sdk": ("claude_agent_sdk", "mcp"),
    "cohere": ("cohere",),
    "crewai": ("crewai",),
    "dspy": ("dspy",),
    "faiss": ("faiss",),
    "google_genai": ("google.genai",),
    "groq": ("groq",),
    "haystack": ("haystack",),
    "lancedb": ("lancedb",),
    "langchain": ("langchain_core",),
    "langchain_classic": ("langchain_classic",),
    "langchain_retrievers": ("langchain_chroma", "langchain_core"),
    "langgraph": ("langgraph",),
    "litellm": ("litellm",),
    "llamaindex": ("llama_index", "workflows"),
    "llamaindex_retrievers": ("llama_index",),
    "mcp": ("mcp",),
    "mem0": ("mem0",),
    "milvus": ("pymilvus",),
    "mistralai": ("mistralai",),
    "ollama": ("ollama",),
    "openai": ("openai",),
    "openai_agents": ("agents",),
    "pgvector": ("psycopg",),
    "pinecone": ("pinecone",),
    "pydantic_ai": ("pydantic_ai",),
    "qdrant": ("qdrant_client",),
    "smolagents": ("smolagents",),
    "strands": ("strands",),
    "vertexai": ("vertexai",),
    "weaviate": ("weaviate",),
}
"""Short name -> the packages every module its instrumentor patches or watches lives in (the top level, or two
levels in the ``google`` namespace, as ``_coexist.client_package`` names them). Importing any of them loads the
instrumentor, before the package's first line runs. A name missing here is loaded by ``instrument()`` itself;
``tests/test_lazy_instrumentors.py`` checks each instrumentor's patches against this table."""


def available(packages: Installed) -> dict[str, EntryPoint]:
    """Short name (``openai``) -> entry point, for every instrumentor this package ships."""
    # Our own distribution's entry points: one file read instead of parsing every installed package's.
    own = distribution("otel-agentmetrics", packages)
    ours = [ep for ep in own.entry_points if ep.group == _GROUP] if own else list(entry_points(group=_GROUP))
    found: dict[str, EntryPoint] = {}
    for entry_point in ours:
        if entry_point.value.startswith(_MODULE):
            found[entry_point.name.removeprefix(_PREFIX)] = entry_point
    return found
