"""Instrumentors, grouped by what they instrument; the tree is the map of what we cover.

- ``llm/``: model clients (openai, anthropic, bedrock, google, mistralai, cohere, groq, ollama, litellm) and their
  shared OpenAI-shaped readers;
- ``agents/``: agent and tool frameworks (Agents SDK, LangChain/LangGraph, LlamaIndex, CrewAI, Pydantic AI, ...);
- ``retrieval/``: vector stores, retrievers and memory;
- ``protocols/``: agents and tools in other processes (MCP, A2A).

Each integration translates its library's shapes into the core's neutral records (``otel_agentmetrics.record``,
``otel_agentmetrics.tools``, ...); the core alone turns them into spans, metrics and cost and never imports from
here (entry points load each instrumentor). A helper used by one kind lives in that kind; one that two kinds need
lives in the core. The finder below keeps the import paths of before the grouping
(``otel_agentmetrics.instrumentors.openai``, ...) working for one release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

_PACKAGE = "otel_agentmetrics.instrumentors"

MOVED = {
    "openai": "llm.openai",
    "anthropic": "llm.anthropic",
    "bedrock": "llm.bedrock",
    "google": "llm.google",
    "google_genai": "llm.google.genai",
    "vertexai": "llm.google.vertexai",
    "cohere": "llm.cohere",
    "groq": "llm.groq",
    "mistralai": "llm.mistralai",
    "ollama": "llm.ollama",
    "litellm": "llm.litellm",
    "_openai_like": "llm._openai_like",
    "_common": "llm._common",
    "crewai": "agents.crewai",
    "langchain": "agents.langchain",
    "_langchain_models": "agents._langchain_models",
    "langgraph": "agents.langgraph",
    "llamaindex": "agents.llamaindex",
    "openai_agents": "agents.openai_agents",
    "pydantic_ai": "agents.pydantic_ai",
    "mcp": "protocols.mcp",
}
"""Old name under ``otel_agentmetrics.instrumentors`` -> its path under the same package today."""


def new_name(fullname: str) -> str | None:
    """The module's current name for an old one (``...instrumentors.openai._raw`` -> ``...llm.openai._raw``)."""
    if not fullname.startswith(_PACKAGE + "."):
        return None
    head, _, rest = fullname[len(_PACKAGE) + 1 :].partition(".")
    moved = MOVED.get(head)
    if moved is None:
        return None
    return ".".join(part for part in (_PACKAGE, moved, rest) if part)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers only for the old names and their submodules; imports nothing until one of them is asked for.

    A finder rather than stub modules, so the top level holds only the kind packages; first on ``sys.meta_path``,
    so an old submodule path (``...openai._raw``) never loads a second copy of the module.
    """

    def __init__(self) -> None:
        self._specs: dict[str, Any] = {}  # the real module's own spec, by its real name

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        target_name = new_name(fullname)
        if target_name is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=target_name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        assert spec.origin is not None
        warnings.warn(
            f"{spec.name} moved to {spec.origin}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(spec.origin)
        self._specs.setdefault(module.__name__, module.__spec__)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module ran at its own path. The import system stamped the alias's spec on it: undo."""
        module.__spec__ = self._specs.get(module.__name__, module.__spec__)


def _install() -> None:
    """Put the alias finder first on ``sys.meta_path``, once."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Alias())


_install()
