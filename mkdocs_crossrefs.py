"""A griffe extension for the API reference (mkdocs.yml): the docstrings' Sphinx roles become links.

The docstrings name other objects the Sphinx way (``:func:`cost```, ``:class:`~otel_agentmetrics.record.CallRecord```,
``:meth:`Call.end```); mkdocstrings renders those literally. This turns each into a cross-reference
(``[`cost`][otel_agentmetrics.pricing.cost]``) when its target is documented on the reference page (an entry of
docs/reference.md or one of its members), and into plain code otherwise (a private module's helper), so the page
shows no ``:func:`` and ``mkdocs build --strict`` finds no dangling reference.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|data|mod|attr|exc|obj|const):`(~?)([^`<>]+?)(?:\s*<([^`>]+)>)?`")
_REFERENCE = Path(__file__).parent / "docs" / "reference.md"


def _documented() -> tuple[str, ...]:
    """The objects the reference page renders: its ``::: path`` entries (their members are rendered with them)."""
    lines = _REFERENCE.read_text(encoding="utf-8").splitlines() if _REFERENCE.exists() else []
    return tuple(line[4:].strip() for line in lines if line.startswith("::: "))


def _rendered(obj: griffe.Object, path: str) -> bool:
    """Whether ``path`` names a loaded object with a docstring (what the reference renders); an entry of the
    page itself counts even when its module is not loaded yet."""
    try:
        found = obj.modules_collection[path]
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    try:
        return found.docstring is not None
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False


class SphinxRoles(griffe.Extension):
    """Rewrites Sphinx roles in every docstring griffe loads."""

    def __init__(self) -> None:
        super().__init__()
        self.documented = _documented()

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Once the whole package is loaded (a role may name an object defined further down)."""
        self._rewrite(pkg, set())

    def _rewrite(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        docstring = obj.docstring
        if docstring is not None and ":" in docstring.value:
            docstring.value = _ROLE.sub(lambda match: self._render(obj, match), docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, seen)  # type: ignore[arg-type]

    def _render(self, obj: griffe.Object, match: re.Match[str]) -> str:
        tilde, text, explicit = match.group(1), match.group(2).strip(), match.group(3)
        target = (explicit or text).lstrip(".")
        shown = text.rsplit(".", 1)[-1] if tilde else text.lstrip(".")
        for candidate in self._candidates(obj, target):
            if self._is_documented(candidate) and _rendered(obj, candidate):
                return f"[`{shown}`][{candidate}]"
        return f"`{shown}`"

    @staticmethod
    def _candidates(obj: griffe.Object, target: str) -> list[str]:
        if target.startswith("otel_agentmetrics"):
            return [target]
        scopes: list[str] = []
        scope: Any = obj
        while scope is not None:  # the class it is in (or is), its module, the packages above
            if scope.is_class or scope.is_module:
                scopes.append(scope.path)
            scope = scope.parent
        return [f"{path}.{target}" for path in scopes] + [f"otel_agentmetrics.{target}"]

    def _is_documented(self, path: str) -> bool:
        return any(path == entry or path.startswith(entry + ".") for entry in self.documented)
