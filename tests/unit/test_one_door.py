"""One door both ways (issue 39): writes take typed values as reads return them (NewJob,
JobUpdate, JobStore.requeue), so no column name of jobs, licenses, apps or usage is typed as a
string outside cora_ocr/store/: no dict of columns, no `columns=`, no column looked up by
name. The JSON views' keys are camelCase and the log's structured fields are one name each,
so neither is taken for a dict of columns."""

from __future__ import annotations

import ast
from pathlib import Path

import cora_ocr
from cora_ocr.store.models import App, Job, License, Usage

PACKAGE = Path(cora_ocr.__file__).resolve().parent
COLUMNS = frozenset(
    column.key
    for model in (Job, License, App, Usage)
    for column in model.__table__.columns  # type: ignore[attr-defined]
    if "_" in column.key  # a distinctive name: job_id-like words, not "state" or "name"
)


def typed_columns(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            named = [key for key in keys if key in COLUMNS]
            if len(named) >= 2:
                found.append(f"dict of columns {named} (line {node.lineno})")
        elif isinstance(node, ast.keyword) and node.arg == "columns":
            found.append(f"columns= (line {node.value.lineno})")
        elif _gets_a_column(node):
            found.append(f".get(column) (line {getattr(node, 'lineno', 0)})")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value in COLUMNS
        ):
            found.append(f"[{node.slice.value!r}] (line {node.lineno})")
    return found


def _gets_a_column(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in COLUMNS
    )


def test_no_column_name_is_typed_outside_the_store() -> None:
    typed = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if "store" not in path.relative_to(PACKAGE).parts[:1]
        and (found := typed_columns(path.read_text()))
    }
    assert typed == {}


def test_the_check_sees_a_dict_of_columns() -> None:
    assert "pages_done" in COLUMNS and "error_reason" in COLUMNS
    assert typed_columns('x = {"error_reason": None, "started_at": now}') != []
    assert typed_columns('x = outcome.columns.get("pages_total")') != []
    assert typed_columns('log.info("x", extra={"job_id": 1, "error_code": "y"})') == []
