"""Migrations equal the models, and they go down and up again, on every backend."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cora_ocr.store import Base, Store
from cora_ocr.store.migrate import downgrade, upgrade
from tests.conftest import make_store_url


def diff(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrations_equal_models(backend: str, tmp_path: Path) -> None:
    url, schema = make_store_url(backend, tmp_path)
    store = Store(url)
    try:
        upgrade(store.engine)
        assert diff(store) == []
        downgrade(store.engine, "base")
        assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
        upgrade(store.engine)
        assert diff(store) == []
    finally:
        store.dispose()
        if schema is not None:
            schema.drop()


def test_an_empty_database_differs_from_the_models(backend: str, tmp_path: Path) -> None:
    """The comparison can fail: without migrations every table is reported missing."""
    url, schema = make_store_url(backend, tmp_path)
    store = Store(url)
    try:
        assert any(change[0] == "add_table" for change in diff(store))  # type: ignore[index]
    finally:
        store.dispose()
        if schema is not None:
            schema.drop()
