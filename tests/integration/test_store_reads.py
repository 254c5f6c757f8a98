"""The GetStatus read path (cora_ocr.store.status.reads) on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, event, func, literal, select, text
from sqlalchemy.exc import DBAPIError

from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from cora_ocr.store.models import Job
from cora_ocr.store.status.reader import STATUS
from cora_ocr.store.status.reads import CompiledReads, PreparedReads, Reads
from tests.conftest import make_store_url
from tests.support.calls import new_job


def reads_of(store: Store) -> CompiledReads:
    """The store's faster read path (the production setting's reader holds one)."""
    reads = store.statuses.reads
    assert isinstance(reads, CompiledReads)
    return reads


def test_status_row_reads_text_integers_and_nulls(store: Store) -> None:
    job_id = new_job(store, context=None)
    assert store.statuses.read(job_id) == ("queued", "NoError", None, None, None)
    later = new_job(store, start_by=2**40 + 7)  # a 64-bit integer
    assert store.statuses.read(later) == ("queued", "NoError", "reads-test", None, 2**40 + 7)
    statement = select(Job.id, Job.timeout_seconds, Job.input_name).where(
        Job.id == bindparam("job_id")
    )
    assert reads_of(store).one(statement, {"job_id": job_id}) == (job_id, 60, "a.png")
    assert store.statuses.read(10**15) is None


def test_columns_come_through_sqlalchemys_types(store: Store) -> None:
    """A TypeDecorator (UTC datetimes) and JSON read as the ORM reads them, on both paths."""
    activity = {"CallerId": 7, "WorkflowName": "Intake \u00e9"}
    job_id = new_job(store, activity_metadata=activity)
    statement = select(Job.created_at, Job.activity_metadata, Job.finished_at).where(
        Job.id == bindparam("job_id")
    )
    created_at, metadata, finished_at = reads_of(store).one(statement, {"job_id": job_id})  # type: ignore[misc]
    with store.session() as session:
        job = session.get_one(Job, job_id)
        assert created_at == job.created_at and created_at.utcoffset() == dt.timedelta(0)
    assert metadata == activity
    assert finished_at is None


def test_the_faster_path_reads_what_core_reads(store: Store) -> None:
    """The store's reads against SQLAlchemy Core (Reads) on the same engine, statement by
    statement: the same rows, types included, and None for no row."""
    assert type(reads_of(store)) is not Reads
    core = Reads(reads_of(store).engine)
    with_context = new_job(store, activity_metadata={"CallerId": 1}, start_by=2**40)
    without = new_job(store, context=None)
    statements = [
        STATUS,
        select(Job.id, Job.created_at, Job.activity_metadata, Job.finished_at).where(
            Job.id == bindparam("job_id")
        ),
        select(Job.external_context, Job.timeout_seconds).where(Job.id > bindparam("job_id")),
    ]
    for statement in statements:
        for job_id in (with_context, without, 10**15):
            expected = core.one(statement, {"job_id": job_id})
            row = reads_of(store).one(statement, {"job_id": job_id})
            assert row == expected
            if row is not None and expected is not None:
                assert [type(value) for value in row] == [type(value) for value in expected]


def test_reads_see_commits_of_other_connections(store: Store) -> None:
    """Read connections go back to the pool between reads: none may hold a snapshot or a
    transaction (on PostgreSQL they run in AUTOCOMMIT, with no reset on return)."""
    job_id = new_job(store)
    reads = reads_of(store)
    assert reads.one(STATUS, {"job_id": job_id}) == ("queued", "NoError", "reads-test", None, None)
    with store.session.begin() as session:
        session.get_one(Job, job_id).state = "processing_input"
    assert reads.one(STATUS, {"job_id": job_id})[0] == "processing_input"  # type: ignore[index]


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[Store]:
    url, schema = make_store_url("postgresql", tmp_path)
    store = Store(url, status_reads="compiled")
    upgrade(store.engine)
    yield store
    store.dispose()
    assert schema is not None
    schema.drop()


def test_a_read_survives_its_connection_being_killed(
    pg_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = new_job(pg_store)
    assert pg_store.statuses.read(job_id) is not None
    with pg_store.engine.begin() as conn:
        readers = conn.execute(
            text(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND query LIKE '%FROM jobs%'"
            )
        ).all()
        assert readers and all(state == "idle" for _, state in readers)  # no open transaction
        for pid, _ in readers:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # The kept connection is dead now; the read is retried once on a new one, quietly.
    with caplog.at_level(logging.INFO):
        row = pg_store.statuses.read(job_id)
    assert row == ("queued", "NoError", "reads-test", None, None)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_failing_read_raises_with_the_servers_message(store: Store) -> None:
    missing = (
        select(text("x"))
        .select_from(text("no_such_table"))
        .where(text("x = :job_id").bindparams(bindparam("job_id")))
    )
    assert store.statuses.read(new_job(store)) is not None  # a live connection is kept
    opened: list[object] = []

    def count(*_: object) -> None:
        opened.append(_)

    event.listen(reads_of(store).engine, "connect", count)
    try:
        with pytest.raises(Exception, match="no_such_table") as raised:
            reads_of(store).one(missing, {"job_id": 1})
    finally:
        event.remove(reads_of(store).engine, "connect", count)
    assert opened == []  # the connection was alive: the failure is not retried elsewhere
    assert issubclass(raised.type, DBAPIError)
    job_id = new_job(store)  # and the next read works
    assert store.statuses.read(job_id) is not None


BACKEND_PID = select(func.pg_backend_pid()).where(literal(1) == bindparam("job_id"))


def test_each_thread_keeps_its_read_connection_then_hands_it_back(pg_store: Store) -> None:
    """PreparedReads: a thread reads on the connection it holds (no pool checkout per read),
    threads never share one, and a connection goes back to the pool after hold_seconds."""
    reads = reads_of(pg_store)
    assert isinstance(reads, PreparedReads)
    pool = reads.engine.pool
    first = reads_of(pg_store).one(BACKEND_PID, {"job_id": 1})
    assert reads_of(pg_store).one(BACKEND_PID, {"job_id": 1}) == first
    assert pool.checkedout() == 1  # type: ignore[attr-defined]

    others: list[object] = []
    barrier = threading.Barrier(3)

    def read_in_a_thread() -> None:
        barrier.wait()
        others.append(reads_of(pg_store).one(BACKEND_PID, {"job_id": 1}))
        barrier.wait()  # both threads hold theirs at once

    threads = [threading.Thread(target=read_in_a_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(set(others)) == 3 and first not in others

    assert pool.checkedout() == 1 + 3  # type: ignore[attr-defined]
    reads.hold_seconds = 0  # the next read hands the held one back, and the ended threads'
    reads_of(pg_store).one(BACKEND_PID, {"job_id": 1})
    assert pool.checkedout() == 1  # type: ignore[attr-defined]


def test_dispose_closes_the_held_read_connections(tmp_path: Path) -> None:
    url, schema = make_store_url("postgresql", tmp_path)
    store = Store(url, status_reads="compiled")
    try:
        pid = reads_of(store).one(BACKEND_PID, {"job_id": 1})
        store.dispose()
        with store.engine.connect() as conn:
            alive = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid[0]},  # type: ignore[index]
            ).scalar_one()
        assert alive == 0
    finally:
        store.dispose()
        assert schema is not None
        schema.drop()
