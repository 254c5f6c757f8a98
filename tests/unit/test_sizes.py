"""The house stays navigable (issue 39): no module of cora_ocr over 400 lines, no class over
250. A class grown past it splits by concern (licensing.py and license_admin.py, jobs.py and
job_rules.py, worker/loop.py and worker/writes.py, the robot's parts)."""

from __future__ import annotations

import ast
from pathlib import Path

import cora_ocr

PACKAGE = Path(cora_ocr.__file__).resolve().parent
MAX_MODULE, MAX_CLASS = 400, 250


def sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, classes = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = str(path.relative_to(PACKAGE.parent))
        modules[name] = len(source.splitlines())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                classes[f"{name}:{node.name}"] = node.end_lineno - node.lineno + 1
    return modules, classes


def test_no_module_over_400_lines_and_no_class_over_250() -> None:
    modules, classes = sizes()
    assert {name: size for name, size in modules.items() if size > MAX_MODULE} == {}
    assert {name: size for name, size in classes.items() if size > MAX_CLASS} == {}


def test_the_sizes_are_read() -> None:
    modules, classes = sizes()
    assert modules["cora_ocr/config.py"] > 100
    assert classes["cora_ocr/robot/hotfolder.py:Robot"] > 100
