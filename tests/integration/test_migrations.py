"""Migrations equal the models, and they go down and up again, on every backend."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

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


def test_jobs_that_ended_before_get_their_ending_from_their_reason(
    backend: str, tmp_path: Path
) -> None:
    """Migration 0011's backfill: what REST read from a reason's first words becomes the
    job's stored ending; a reason in other words, or no final state, gets its code's."""
    url, schema = make_store_url(backend, tmp_path)
    store = Store(url)
    rows = [  # state, error_code, error_reason, expected ending
        (
            "failed",
            "FailedToPutInputFile",
            "the robot refused the input: not a PDF",
            "unsupported_media",
        ),
        (
            "failed",
            "FailedToPutInputFile",
            "the robot refused the input: OCR failed: x",
            "engine_error",
        ),
        ("failed", "FailedToPutInputFile", "robot input folder unavailable", "input_error"),
        ("failed", "TimedOut", "no result from the robot within 60 s", "timeout"),
        ("failed", "InternalError", None, "internal"),
        ("aborted", "NoError", "license error: license suspended", "license"),
        ("aborted", "NoError", "aborted", "aborted"),
        ("completed", "NoError", None, None),
    ]
    try:
        upgrade(store.engine, "0010")
        columns = (
            "state, error_code, error_reason, timeout_seconds, input_connection, input_location,"
            " input_name, ocr_profile, output_connection, output_location, output_name,"
            " put_model, created_at, updated_at, stalls"
        )
        with store.engine.begin() as conn:
            for state, code, reason, _ending in rows:
                conn.execute(
                    text(
                        f"INSERT INTO jobs ({columns}) VALUES (:state, :code, :reason, 60, 'C',"
                        " 'in', 'a.png', 'Default', 'C', 'out', 'a.xml', 'Overwrite',"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)"
                    ),
                    {"state": state, "code": code, "reason": reason},
                )
        upgrade(store.engine)
        with store.engine.connect() as conn:
            found = [row[0] for row in conn.execute(text("SELECT ending FROM jobs ORDER BY id"))]
        assert found == [row[3] for row in rows]
    finally:
        store.dispose()
        if schema is not None:
            schema.drop()
