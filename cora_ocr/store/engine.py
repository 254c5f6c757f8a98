"""Engine and session factory; built once by the caller, never at import time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from cora_ocr.clock import Clock, DatabaseClock, SystemClock
from cora_ocr.store.reads import CompiledReads, PreparedReads, Reads, cut_while_idle
from cora_ocr.store.statuses import SqliteStatusRows, StatusRows

# Pooled connections are replaced after this long.
RECYCLE_SECONDS = 1800


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _discard_if_cut(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """On checkout: a connection the server cut while it was idle (a restart, an idle
    timeout) makes the pool open a new one instead, so a database restart fails no request.
    No pre-ping: that would cost a round trip on every checkout."""
    if cut_while_idle(dbapi_connection):
        raise DisconnectionError("the server closed the connection while it was idle")


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping (a round trip per checkout): connections cut while idle are found on
    # checkout by _discard_if_cut, and connections are recycled. One cut mid-statement fails
    # that statement (a Server fault on the web, a retried loop in the worker).
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_recycle", RECYCLE_SECONDS)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _discard_if_cut)
    return engine


STATUS_CHANGED = "cora_ocr.status_changed"  # session.info: job ids, or None for all
# Execution options of an UPDATE on jobs: it changes what GetStatus reads of this one job, or
# nothing GetStatus reads. Any other UPDATE or DELETE on jobs counts as changing every job.
STATUS_OF_JOB = "cora_ocr_status_of_job"
STATUS_UNCHANGED = "cora_ocr_status_unchanged"


def status_changed(session: Session, job_id: int | None) -> None:
    """The session changed what GetStatus reads of this job (None: of any job); rows kept
    by this process are forgotten once it commits."""
    changed = session.info.setdefault(STATUS_CHANGED, set())
    if job_id is None or changed is None:
        session.info[STATUS_CHANGED] = None
    else:
        changed.add(job_id)


def _watch_statements(state: ORMExecuteState) -> None:
    """An UPDATE or DELETE on jobs run through a session marks what it changed."""
    if not (state.is_update or state.is_delete):
        return
    if getattr(getattr(state.statement, "table", None), "name", None) != "jobs":
        return
    options = state.execution_options
    if not options.get(STATUS_UNCHANGED):
        status_changed(state.session, options.get(STATUS_OF_JOB))


def _watch_objects(session: Session, _context: Any) -> None:
    """A job changed or deleted through the ORM's unit of work marks itself."""
    for instance in [*session.dirty, *session.deleted]:
        if getattr(type(instance), "__tablename__", None) == "jobs":
            status_changed(session, getattr(instance, "id", None))


class Store:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # GetStatus reads (cora_ocr.store.reads): on an engine of their own, each server
        # thread holding at most one of its connections, hence no overflow limit: as many as
        # the server has threads. On a server, in AUTOCOMMIT with no reset on return. An
        # in-memory SQLite database exists only in the main engine's one connection: Core.
        parsed = make_url(url)
        pool = {} if "poolclass" in engine_kwargs else {"max_overflow": -1}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                self.reads: Reads = Reads(self.engine)
            else:
                self.reads = CompiledReads(make_engine(url, **pool, **engine_kwargs))
        else:
            read_engine = make_engine(
                url,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,
                **pool,
                **engine_kwargs,
            )
            faster = PreparedReads if read_engine.driver == "psycopg" else CompiledReads
            self.reads = faster(read_engine)

        self.status_rows: StatusRows | None = None
        event.listen(self.session, "do_orm_execute", _watch_statements)
        event.listen(self.session, "after_flush", _watch_objects)
        event.listen(self.session, "after_commit", self._forget_changed)
        event.listen(self.session, "after_rollback", self._drop_changed)

    def clock(self) -> Clock:
        """The clock every process sharing this database reads (cora_ocr/clock.py): the
        server's, on PostgreSQL; on SQLite (one host) this host's."""
        if self.engine.dialect.name == "sqlite":
            return SystemClock()
        return DatabaseClock(self.database_time)

    def database_time(self) -> dt.datetime:
        with self.engine.connect() as conn:
            moment: dt.datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        return moment.astimezone(dt.UTC)

    def keep_statuses(self) -> None:
        """Keep GetStatus rows between changes (store/statuses.py): for the processes that
        answer GetStatus, on PostgreSQL and on a SQLite database file."""
        if self.status_rows is not None:
            return
        if self.dialect == "postgresql":
            self.status_rows = StatusRows(self.reads.engine)
        elif isinstance(self.reads, CompiledReads):  # not an in-memory database
            self.status_rows = SqliteStatusRows(self.reads.engine)
        else:
            return
        self.status_rows.start()

    def _forget_changed(self, session: Session) -> None:
        if STATUS_CHANGED in session.info:
            changed = session.info.pop(STATUS_CHANGED)
            if self.status_rows is not None:
                self.status_rows.forget(changed)

    def _drop_changed(self, session: Session) -> None:
        session.info.pop(STATUS_CHANGED, None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read_one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One row of a single-statement read (the GetStatus hot path), or None."""
        return self.reads.one(statement, params)

    def dispose(self) -> None:
        if self.status_rows is not None:
            self.status_rows.stop()
        if self.reads.engine is not self.engine:
            self.reads.dispose()
        self.engine.dispose()
