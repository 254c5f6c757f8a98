"""The import map of cora_ocr (issue 27's first acceptance line), read from the source: no
module imports one that imports it back, however long the way round, and nothing in the
store, the worker or the robot imports a face (rest/, web/, admin/). Imports inside functions
count as well: a cycle hidden in a function is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import cora_ocr

PACKAGE = Path(cora_ocr.__file__).resolve().parent
INNER = ("store", "worker", "robot")  # layers below the faces
FACES = ("rest", "web", "admin")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("cora_ocr", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def import_map() -> dict[str, set[str]]:
    known = modules()

    def owner(name: str) -> str:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    imports: dict[str, set[str]] = {}
    for name, path in known.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {owner(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    whole = f"{node.module}.{alias.name}"
                    found.add(whole if whole in known else owner(node.module))
        imports[name] = {other for other in found if other.startswith("cora_ocr") and other != name}
    return imports


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert cycles(import_map()) == []


def test_the_store_the_worker_and_the_robot_import_no_face() -> None:
    crossing = sorted(
        (module, other)
        for module, others in import_map().items()
        if layer(module) in INNER
        for other in others
        if layer(other) in FACES
    )
    assert crossing == []


def test_the_checks_see_a_cycle_and_a_crossing_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_map()
    assert "cora_ocr.store.models" in graph["cora_ocr.store.queries"]  # imports are read
    assert layer("cora_ocr.worker.loop") in INNER and layer("cora_ocr.web.app") in FACES
