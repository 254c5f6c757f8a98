"""Engines, transactions and the GetStatus reader; built once by the caller, never at import."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from cora_ocr.clock import Clock, DatabaseClock, SystemClock
from cora_ocr.config import Settings
from cora_ocr.store.status.kept import SqliteStatusRows, StatusRows
from cora_ocr.store.status.reader import KeptStatusReader, StatusReader
from cora_ocr.store.status.reads import CompiledReads, PreparedReads, Reads, cut_while_idle

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


def status_changed(session: Session, job_id: int | None) -> None:
    """The session changed what GetStatus reads of this job (None: of any job); the store's
    status reader is told once it commits (Store.transaction)."""
    changed = session.info.setdefault(STATUS_CHANGED, set())
    if job_id is None or changed is None:
        session.info[STATUS_CHANGED] = None
    else:
        changed.add(job_id)


def dialect_insert(session: Session) -> Any:
    """The INSERT of the session's dialect, which can say what a conflict does (upserts)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def status_reader(kind: str, url: str, engine: Engine, **engine_kwargs: Any) -> StatusReader:
    """The GetStatus reader `kind` names (config.STATUS_READS; store/status/reader.py) for the
    database at `url`. The Core reader reads on the main `engine`; the others on an engine of
    their own, each thread holding at most one of its connections (so no overflow limit), in
    AUTOCOMMIT with no reset on return on a server. An in-memory SQLite database lives in the
    main engine's one connection: Core, and nothing kept."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if kind == "core" or (sqlite and parsed.database in (None, "", ":memory:")):
        return StatusReader(Reads(engine))
    pool = {} if "poolclass" in engine_kwargs else {"max_overflow": -1}
    if sqlite:
        reads: CompiledReads = CompiledReads(make_engine(url, **pool, **engine_kwargs))
    else:
        read_engine = make_engine(
            url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **pool, **engine_kwargs
        )
        faster = PreparedReads if read_engine.driver == "psycopg" else CompiledReads
        reads = faster(read_engine)
    if kind == "compiled":
        return StatusReader(reads)
    rows = SqliteStatusRows(reads.engine) if sqlite else StatusRows(reads.engine)
    return KeptStatusReader(reads, rows)


class Store:
    """Owns the engines: hands out transactions to the store's own modules (JobStore,
    LicenseStore, AdminRows), and reads GetStatus rows through the reader `status_reads`
    names (setting of the same name)."""

    def __init__(self, url: str, status_reads: str = "core", **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self.statuses = status_reader(status_reads, url, self.engine, **engine_kwargs)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed at the end of the block (rolled back on an
        exception); the status reader is told what it changed once it is committed."""
        with self.session.begin() as session:
            yield session
        changed = session.info.pop(STATUS_CHANGED, set())
        if changed is None or changed:
            self.statuses.changed(changed)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads (nothing it does is committed)."""
        with self.session() as session:
            yield session

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

    def schema_revision(self) -> str | None:
        """The migration revision the database is at (readiness); errors propagate."""
        with self.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if revision is None else str(revision)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.statuses.close()
        self.engine.dispose()


def store_for(settings: Settings) -> Store:
    """The store the settings name, reading GetStatus as their `status_reads` says (not
    migrated: cli/common.py's open_store upgrades it)."""
    return Store(settings.effective_database_url, status_reads=settings.status_reads)
