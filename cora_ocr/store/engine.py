"""Engine and session factory; built once by the caller, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from cora_ocr.store.reads import CompiledReads, PreparedReads, Reads, cut_while_idle

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

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read_one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One row of a single-statement read (the GetStatus hot path), or None."""
        return self.reads.one(statement, params)

    def dispose(self) -> None:
        if self.reads.engine is not self.engine:
            self.reads.dispose()
        self.engine.dispose()
