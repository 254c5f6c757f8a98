"""The import map of cora_ocr (issues 27 and 39), read from the source: no module imports one
that imports it back, however long the way round, and the floors hold (issue 39):

- the host (host/: the app with its mount table, the door, the servers, nginx's config) may
  import anything; nothing imports it but the command line;
- a face (asmx/, rest/, admin/) imports no host and no other face;
- the kit (web/: admission, guard, proxy, observe, faults, problems, response, stack, health,
  windows) imports no face and no host;
- below them (store, worker, robot, connections, the use cases) nothing imports the kit, a face
  or the host.

Imports inside functions count as well: a cycle hidden in a function is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import cora_ocr

PACKAGE = Path(cora_ocr.__file__).resolve().parent
HOST = ("host",)
FACES = ("asmx", "rest", "admin")
KIT = ("web",)
TOP = ("cli",)  # the command line: builds and runs the host
INNER = ("store", "worker", "robot", "connections")  # named for the old test's readers


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


def floor(module: str) -> int:
    """0 below the kit, 1 the kit, 2 a face, 3 the host, 4 the command line."""
    name = layer(module)
    for number, names in ((4, TOP), (3, HOST), (2, FACES), (1, KIT)):
        if name in names:
            return number
    return 0


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports that run back up a floor, or from one face into another."""
    return sorted(
        (module, other)
        for module, others in graph.items()
        for other in others
        if floor(other) > floor(module)
        or (floor(module) == floor(other) == 2 and layer(module) != layer(other))
    )


def test_nothing_imports_upward_and_no_face_imports_another() -> None:
    assert upward(import_map()) == []


def test_the_store_the_worker_and_the_robot_import_no_face() -> None:
    crossing = sorted(
        (module, other)
        for module, others in import_map().items()
        if layer(module) in INNER
        for other in others
        if layer(other) in (*FACES, *KIT, *HOST)
    )
    assert crossing == []


def test_the_checks_see_a_cycle_and_a_crossing_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_map()
    assert "cora_ocr.store.models" in graph["cora_ocr.store.job_queries"]  # imports are read
    assert layer("cora_ocr.worker.loop") in INNER and layer("cora_ocr.rest.api") in FACES
    floors = {
        "cora_ocr.web.guard": {"cora_ocr.rest.api"},  # the kit into a face
        "cora_ocr.rest.api": {"cora_ocr.admin.app", "cora_ocr.web.guard"},  # a face into another
        "cora_ocr.asmx.face": {"cora_ocr.host.app"},  # a face into the host
        "cora_ocr.jobs": {"cora_ocr.web.faults"},  # below the kit, into it
        "cora_ocr.host.app": {"cora_ocr.asmx.face", "cora_ocr.web.stack"},  # fine
    }
    assert upward(floors) == [
        ("cora_ocr.asmx.face", "cora_ocr.host.app"),
        ("cora_ocr.jobs", "cora_ocr.web.faults"),
        ("cora_ocr.rest.api", "cora_ocr.admin.app"),
        ("cora_ocr.web.guard", "cora_ocr.rest.api"),
    ]
