"""The layout holds: no import cycle, the core never imports an instrumentor, every package is installed.

No import cycle among our modules: a cycle makes import order matter and hides which layer depends on which.

Read from the source with ``ast`` (nothing is imported): every ``import``/``from ... import`` of one of our modules,
at any depth (function-level imports count: they are the usual way a cycle gets hidden), except under
``if TYPE_CHECKING:``. ``from . import name`` counts as a dependency on the submodule ``name`` when there is one.
A package's ``__init__`` is not an implicit dependency of its submodules (Python imports it first either way).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"otel_agentmetrics": ROOT / "otel_agentmetrics", "otel_agentmetrics.instrumentors": ROOT / "instrumentors"}


def _modules() -> dict[str, tuple[Path, bool]]:
    modules: dict[str, tuple[Path, bool]] = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            modules[".".join([package, *parts])] = (path, is_package)
    return modules


def _imports(tree: ast.AST, package: str, known: dict[str, tuple[Path, bool]]) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in known]
            yield from submodules
            if len(submodules) < len(node.names):
                yield module
        yield from _imports(node, package, known)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        found = _imports(ast.parse(path.read_text(encoding="utf-8")), package, modules)
        graph[name] = {module for module in found if module in modules and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 60  # the walk found our modules, core and instrumentors
    assert cycles(graph) == []


def test_the_check_finds_a_cycle() -> None:
    """The detector itself, on the cycle this project once had (start-up -> telemetry -> pricing -> start-up)."""
    graph = import_graph()
    graph["otel_agentmetrics.pricing._helpers"] = graph["otel_agentmetrics.pricing._helpers"] | {
        "otel_agentmetrics._setup"
    }
    found = cycles(graph)
    assert len(found) == 1
    assert {"otel_agentmetrics._setup", "otel_agentmetrics._telemetry", "otel_agentmetrics.pricing"} <= set(found[0])


def test_instrumentors_never_imported_by_the_core() -> None:
    """The core works without any instrumentor; they depend on it, never the reverse (entry points load them)."""
    graph = import_graph()
    prefix = "otel_agentmetrics.instrumentors"
    reaching = {
        name: sorted(dep for dep in deps if dep.startswith(prefix))
        for name, deps in graph.items()
        if not name.startswith(prefix)
    }
    assert {name: deps for name, deps in reaching.items() if deps} == {}


KINDS = {"llm", "agents", "retrieval", "protocols"}
INSTRUMENTORS = "otel_agentmetrics.instrumentors"


def _kind(module: str) -> str | None:
    """``llm`` for ``otel_agentmetrics.instrumentors.llm.openai._raw``; ``None`` for the core."""
    if not module.startswith(INSTRUMENTORS + "."):
        return None
    return module[len(INSTRUMENTORS) + 1 :].split(".")[0]


def test_top_level_holds_only_the_kinds() -> None:
    """The tree is the map: ``instrumentors/`` holds one package per kind and its ``__init__``, nothing else."""
    folder = SOURCES[INSTRUMENTORS]
    entries = {path.name for path in folder.iterdir() if path.name != "__pycache__"}
    assert entries == KINDS | {"__init__.py"}
    for kind in KINDS:
        docstring = ast.get_docstring(ast.parse((folder / kind / "__init__.py").read_text(encoding="utf-8")))
        assert docstring and len(docstring.splitlines()) <= 3, f"{kind}/__init__.py: say in two lines what belongs"


def test_no_import_between_kinds() -> None:
    """An integration of one kind never imports another kind's module; what two kinds share lives in the core."""
    graph = import_graph()
    crossing = {
        name: sorted(dep for dep in deps if _kind(dep) not in (None, _kind(name)))
        for name, deps in graph.items()
        if _kind(name)
    }
    assert {name: deps for name, deps in crossing.items() if deps} == {}


def test_the_kind_checks_find_a_crossing() -> None:
    """The crossing check itself: an agent framework reaching into an LLM client's reader is caught."""
    graph = import_graph()
    graph[f"{INSTRUMENTORS}.agents.crewai"] = graph[f"{INSTRUMENTORS}.agents.crewai"] | {
        f"{INSTRUMENTORS}.llm._openai_like"
    }
    crossing = [
        name for name, deps in graph.items() if _kind(name) and any(_kind(d) not in (None, _kind(name)) for d in deps)
    ]
    assert crossing == [f"{INSTRUMENTORS}.agents.crewai"]


def test_every_entry_point_loads() -> None:
    """Entry-point names are the users' switches (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``): each one loads."""
    import tomllib
    from importlib import import_module

    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    ours = entry_points["opentelemetry_instrumentor"]
    assert len(ours) >= 17
    for name, target in ours.items():
        assert name.startswith("agentmetrics_")
        module, _, attribute = target.partition(":")
        assert _kind(module) in KINDS, target
        assert issubclass(getattr(import_module(module), attribute), BaseInstrumentor), target


def test_old_import_paths_still_work() -> None:
    """Paths of before the grouping by kind give the very same module, with a DeprecationWarning, for one release."""
    import importlib
    import warnings

    from otel_agentmetrics.instrumentors import MOVED

    for old, new in MOVED.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            aliased = importlib.import_module(f"{INSTRUMENTORS}.{old}")
        assert aliased is importlib.import_module(f"{INSTRUMENTORS}.{new}")
        assert aliased.__spec__.name == f"{INSTRUMENTORS}.{new}"
        assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught), old
    from otel_agentmetrics.instrumentors import google_genai
    from otel_agentmetrics.instrumentors.llm.google.genai import GoogleGenAIInstrumentor
    from otel_agentmetrics.instrumentors.llm.openai import _raw
    from otel_agentmetrics.instrumentors.openai import _raw as old_raw  # a submodule by its old path: no 2nd copy

    assert google_genai.GoogleGenAIInstrumentor is GoogleGenAIInstrumentor
    assert old_raw is _raw


def test_every_instrumentor_package_is_packaged() -> None:
    """setuptools lists packages by hand (``instrumentors/`` installs inside the core): a new one must be listed."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join([package, *path.parent.relative_to(folder).parts])
        for package, folder in SOURCES.items()
        for path in folder.rglob("__init__.py")
    }
    assert on_disk - listed == set()
