"""What is installed, read once from the ``*.dist-info`` folder names on ``sys.path``.

``importlib.metadata.version()`` searches every path entry for each name it is asked about; with a few hundred
packages installed that is several milliseconds per instrumentor at start-up. One directory listing per path
entry answers every question ``instrument()`` has.
"""

from __future__ import annotations

import os
import re
import sys
from importlib.metadata import PathDistribution
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

_DIST_INFO = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+)\.dist-info$")
_AT_LEAST = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][A-Za-z0-9.!+_-]*)\s*$")
"""``name >= version``, what our instrumentors require: read without packaging's requirement parser (importing it
compiles dozens of regular expressions, a tenth of start-up)."""
_SEPARATORS = re.compile(r"[-_.]+")


def canonicalize_name(name: str) -> str:
    """PEP 503's normalized name, as ``packaging.utils.canonicalize_name`` (whose module imports packaging's tags)."""
    return _SEPARATORS.sub("-", name).lower()


Installed = dict[str, tuple[str, str]]
"""Canonical distribution name -> (version, dist-info path)."""


def installed() -> Installed:
    """Every installed distribution; the first on ``sys.path`` wins, as for imports (a few hundred: no ``Path``
    is built for them)."""
    found: Installed = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith(".dist-info"):
                continue
            match = _DIST_INFO.match(name)
            if match:
                found.setdefault(canonicalize_name(match["name"]), (match["version"], os.path.join(entry or ".", name)))
    return found


def distribution(name: str, packages: Installed) -> PathDistribution | None:
    found = packages.get(canonicalize_name(name))
    return PathDistribution(Path(found[1])) if found else None


def unmet(requirements: list[str] | tuple[str, ...], packages: Installed) -> str | None:
    """The first requirement the installed packages do not meet, described; ``None`` when all are met."""
    for text in requirements:
        at_least = _AT_LEAST.match(text)
        requirement: Any = None if at_least else _parse(text)
        name = at_least[1] if at_least else requirement.name
        found = packages.get(canonicalize_name(name))
        if found is None:
            return f"{name} is not installed"
        try:
            version = Version(found[0])
            if at_least:  # as packaging's ">=": the public version (no local label), pre-releases allowed
                ok = Version(version.public) >= Version(at_least[2])
            else:
                ok = requirement.specifier.contains(version, prereleases=True)
        except InvalidVersion:
            ok = True
        if not ok:
            return f"{name} {found[0]} is installed, {text} is needed"
    return None


def _parse(text: str) -> Any:
    from packaging.requirements import Requirement

    return Requirement(text)
