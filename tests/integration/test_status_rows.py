"""GetStatus rows kept between changes (cora_ocr/store/status/kept.py): kept, and forgotten when
this process commits a transition, when another connection changes or deletes the job, and
on PostgreSQL while the notices cannot be heard; on a SQLite file, when anything commits."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cora_ocr.statuses import JobState
from cora_ocr.store import Store
from cora_ocr.store import job_queries as queries
from cora_ocr.store.job_store import JobStore, Move
from cora_ocr.store.migrate import upgrade
from cora_ocr.store.models import utcnow
from cora_ocr.store.status.kept import SqliteStatusRows, StatusRows
from cora_ocr.store.status.reader import STATUS_COLUMNS, KeptStatusReader, StatusRow
from tests.conftest import make_store_url
from tests.support.calls import new_job


def eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@contextlib.contextmanager
def keeping(backend: str, directory: Path) -> Iterator[tuple[Store, str]]:
    """A store keeping GetStatus rows, and its URL for changes made as another process would."""
    url, schema = make_store_url(backend, directory)
    store = Store(url, status_reads="kept")
    upgrade(store.engine)
    assert store.statuses.read(0) is None  # the first read starts keeping rows
    try:
        assert eventually(lambda: rows_of(store).listening)
        yield store, url
    finally:
        store.dispose()
        if schema is not None:
            schema.drop()


@pytest.fixture(params=["postgresql", "sqlite"])
def kept(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, str]]:
    with keeping(request.param, tmp_path) as kept:
        yield kept


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    with keeping("postgresql", tmp_path) as kept:
        yield kept


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    with keeping("sqlite", tmp_path) as kept:
        yield kept


def rows_of(store: Store) -> StatusRows:
    assert isinstance(store.statuses, KeptStatusReader)
    return store.statuses.rows


def other_connection(url: str, statement: str, **params: object) -> None:
    """A change made outside this Store, as another process would make it."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def test_a_row_is_kept_until_another_process_changes_the_job(kept: tuple[Store, str]) -> None:
    store, url = kept
    job_id = new_job(store)
    assert store.statuses.read(job_id) == ("queued", "NoError", "reads-test", None, None)
    assert rows_of(store).get(job_id) is not None  # kept: the next GetStatus reads nothing
    other_connection(
        url, "UPDATE jobs SET state = 'failed', error_code = 'TimedOut' WHERE id = :id", id=job_id
    )
    assert eventually(lambda: store.statuses.read(job_id)[:2] == ("failed", "TimedOut"))  # type: ignore[index]
    assert rows_of(store).get(job_id) is not None  # kept again


def test_on_postgresql_a_column_getstatus_does_not_read_forgets_nothing(
    pg: tuple[Store, str],
) -> None:
    store, url = pg
    job_id = new_job(store)
    store.statuses.read(job_id)
    other_connection(url, "UPDATE jobs SET lease_owner = 'w' WHERE id = :id", id=job_id)
    time.sleep(0.2)
    assert rows_of(store).get(job_id) is not None


def test_on_sqlite_any_commit_forgets_and_the_next_read_is_current(
    sqlite: tuple[Store, str],
) -> None:
    store, url = sqlite
    rows = rows_of(store)
    assert isinstance(rows, SqliteStatusRows)
    first, second = new_job(store), new_job(store)
    store.statuses.read(first)
    store.statuses.read(second)
    assert rows.get(first) is not None and rows.get(second) is not None
    # Another job's change, written the way another process would: everything goes, at once.
    other_connection(url, "UPDATE jobs SET state = 'aborted' WHERE id = :id", id=second)
    assert rows.get(first) is None
    assert store.statuses.read(second)[0] == "aborted"  # type: ignore[index]
    assert store.statuses.read(first)[0] == "queued"  # type: ignore[index]
    assert rows.get(first) is not None


@pytest.mark.parametrize(
    "change",
    [
        ["UPDATE jobs SET external_context = :value WHERE id = :id"],
        ["UPDATE jobs SET lease_owner = :value WHERE id = :id"],  # a column GetStatus does not read
        ["PRAGMA wal_checkpoint(TRUNCATE)", "UPDATE jobs SET lease_owner = :value WHERE id = :id"],
        ["DELETE FROM jobs WHERE id = :id"],
        ["VACUUM"],
    ],
    ids=["update", "other column", "after a checkpoint", "delete", "vacuum"],
)
def test_on_sqlite_the_wal_index_shows_every_commit(
    sqlite: tuple[Store, str], change: list[str]
) -> None:
    store, url = sqlite
    rows = rows_of(store)
    assert isinstance(rows, SqliteStatusRows) and rows.watches_wal_index
    job_id = new_job(store)
    for value in ("first", "second"):  # the second time after a commit of the same kind
        before = store.statuses.read(job_id)
        assert rows.get(job_id) == before
        for statement in change:
            if statement == "VACUUM":  # not inside a transaction
                engine = create_engine(url, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.exec_driver_sql(statement)
                engine.dispose()
            else:
                other_connection(url, statement, id=job_id, value=value)
        assert rows.get(job_id) is None
        after = store.statuses.read(job_id)
        if "DELETE" in change[0]:
            assert after is None
            return
        if "external_context" in change[0]:
            assert after is not None and after.external_context == value
        else:
            assert after == before


def test_a_transition_committed_here_is_seen_at_once(kept: tuple[Store, str]) -> None:
    store, _url = kept
    job_id = new_job(store)
    assert store.statuses.read(job_id)[0] == "queued"  # type: ignore[index]
    aborted = Move(JobState.QUEUED, JobState.ABORTED, actor="test")
    assert JobStore(store).move(job_id, aborted, utcnow())
    assert store.statuses.read(job_id)[0] == "aborted"  # type: ignore[index]


def test_a_transition_rolled_back_forgets_nothing_it_did_not_change(
    kept: tuple[Store, str],
) -> None:
    store, _url = kept
    job_id = new_job(store)
    store.statuses.read(job_id)
    with pytest.raises(RuntimeError), store.transaction() as session:
        queries.transition(session, job_id, JobState.QUEUED, JobState.ABORTED, actor="test")
        raise RuntimeError("rolled back")
    assert store.statuses.read(job_id)[0] == "queued"  # type: ignore[index]


def test_deleted_jobs_are_forgotten(kept: tuple[Store, str]) -> None:
    store, url = kept
    job_id = new_job(store)
    assert store.statuses.read(job_id) is not None
    other_connection(url, "DELETE FROM jobs WHERE id = :id", id=job_id)
    assert eventually(lambda: store.statuses.read(job_id) is None)


def test_a_read_overlapping_a_change_is_not_kept(kept: tuple[Store, str]) -> None:
    store, _url = kept
    rows = rows_of(store)
    job_id = new_job(store)
    assert rows.get(job_id) is None  # and on SQLite, the commit above is taken note of
    ticket = rows.ticket()
    row = StatusRow("queued", "NoError", None, None, None)
    rows.forget((job_id + 1,))  # any change while the row was being read
    rows.keep(job_id, row, ticket)
    assert rows.get(job_id) is None
    rows.keep(job_id, row, rows.ticket())
    assert rows.get(job_id) == row


def test_while_the_notices_are_not_heard_every_read_goes_to_the_database(
    pg: tuple[Store, str],
) -> None:
    store, url = pg
    rows = rows_of(store)
    job_id = new_job(store)
    store.statuses.read(job_id)
    listener = rows.backend_pid
    other_connection(url, "SELECT pg_terminate_backend(:pid)", pid=listener)
    assert eventually(lambda: not rows.listening or rows.backend_pid != listener)
    # Changed while nobody here listens, or before the new listener started: never missed.
    other_connection(url, "UPDATE jobs SET state = 'aborted' WHERE id = :id", id=job_id)
    assert store.statuses.read(job_id)[0] == "aborted"  # type: ignore[index]
    assert eventually(lambda: rows.listening and rows.backend_pid != listener)
    assert store.statuses.read(job_id)[0] == "aborted"  # type: ignore[index]
    assert rows.get(job_id) is not None  # kept again once listening


# Another process asks what SQLite asks when it opens a WAL database: can it lock the
# `-shm` file's dead-man-switch byte (os_unix.c: UNIX_SHM_DMS) for itself alone? If it can,
# nobody else has the wal-index open, and SQLite truncates it and builds it anew.
DEAD_MAN_SWITCH = """
import fcntl, sys
with open(sys.argv[1], "r+b") as shm:
    try:
        fcntl.lockf(shm, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
    except OSError:
        print("in use")
    else:
        print("unused")
"""
OTHER_PROCESS = """
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as conn:
    conn.execute("UPDATE jobs SET state = 'aborted' WHERE id = ?", (int(sys.argv[2]),))
"""


def test_on_sqlite_watching_the_wal_index_leaves_it_in_use_for_other_processes(
    sqlite: tuple[Store, str],
) -> None:
    """SQLite's locks on the `-shm` file belong to the process, and closing any descriptor of
    that file drops them all. Mapping it from a descriptor of our own did: the next process
    to open the database took the wal-index for unused and truncated it, and `serve` died of
    SIGBUS under `cora-ocr db backup`."""
    store, url = sqlite
    rows = rows_of(store)
    assert isinstance(rows, SqliteStatusRows) and rows.watches_wal_index
    database = make_url(url).database
    assert database is not None
    job_id = new_job(store)
    assert store.statuses.read(job_id)[0] == "queued"  # type: ignore[index]

    def ask(script: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert ask(DEAD_MAN_SWITCH, f"{database}-shm") == "in use"
    ask(OTHER_PROCESS, database, str(job_id))  # a real other process, on SQLite's own terms
    assert rows.get(job_id) is None
    assert store.statuses.read(job_id)[0] == "aborted"  # type: ignore[index]
    assert ask(DEAD_MAN_SWITCH, f"{database}-shm") == "in use"


def test_nothing_is_kept_in_an_in_memory_database() -> None:
    store = Store("sqlite://", status_reads="kept")
    try:
        upgrade(store.engine)
        assert not isinstance(store.statuses, KeptStatusReader)
        job_id = new_job(store)
        assert store.statuses.read(job_id)[0] == "queued"  # type: ignore[index]
    finally:
        store.dispose()


def test_without_a_wal_index_sqlite_is_asked_for_its_data_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    other_connection(url, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
    other_connection(url, "INSERT INTO jobs VALUES (1, 'queued')")
    engine = create_engine(url)  # a rollback journal: no -shm file to watch
    rows = SqliteStatusRows(engine)
    rows.start()
    try:
        assert rows.listening and not rows.watches_wal_index
        assert rows.get(1) is None
        rows.keep(1, ("queued",), rows.ticket())
        assert rows.get(1) == ("queued",)
        other_connection(url, "UPDATE jobs SET state = 'aborted' WHERE id = 1")
        assert rows.get(1) is None
    finally:
        rows.stop()
        engine.dispose()
    assert not rows.listening


def test_the_trigger_watches_the_columns_getstatus_reads() -> None:
    """On PostgreSQL other processes forget a kept row when migration 0009's trigger tells
    them: it must watch exactly the columns the read selects (a column added to one and not
    the other would keep an old status, or forget for nothing)."""
    path = Path(__file__).parents[2] / "migrations" / "versions" / "0009_status_notifications.py"
    spec = importlib.util.spec_from_file_location("migration_0009", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert set(migration.COLUMNS) == STATUS_COLUMNS


def test_the_one_update_path_marks_only_changes_getstatus_reads(tmp_path: Path) -> None:
    """JobStore's writes tell the reader of a status change and of nothing else: a lease
    renewal keeps the row, a transition forgets it (no convention for a writer to follow)."""
    store = Store(f"sqlite:///{tmp_path / 'marks.db'}", status_reads="core")
    told: list[object] = []
    store.statuses.changed = told.append  # type: ignore[method-assign]
    try:
        upgrade(store.engine)
        jobs = JobStore(store)
        job_id = new_job(store)
        claim = jobs.claim("w", utcnow(), dt.timedelta(seconds=30), skip_locked=False)
        assert claim is not None and claim.job.id == job_id
        assert jobs.heartbeat(job_id, "w", utcnow(), dt.timedelta(seconds=30))
        assert told == []
        moved = Move(JobState.QUEUED, JobState.ABORTED, actor="test", owner="w")
        assert jobs.move(job_id, moved, utcnow())
        assert told == [{job_id}]
        assert jobs.purge_expired(utcnow() + dt.timedelta(days=1), 10)
        assert told == [{job_id}, None]
    finally:
        store.dispose()
