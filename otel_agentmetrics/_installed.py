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

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

_DIST_INFO = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+)\.dist-info$")

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
        requirement = Requirement(text)
        found = packages.get(canonicalize_name(requirement.name))
        if found is None:
            return f"{requirement.name} is not installed"
        try:
            ok = requirement.specifier.contains(Version(found[0]), prereleases=True)
        except InvalidVersion:
            ok = True
        if not ok:
            return f"{requirement.name} {found[0]} is installed, {text} is needed"
    return None
