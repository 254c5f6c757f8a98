"""Engine and session factory; built once by the caller, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from cora_ocr.store.reads import RECYCLE_SECONDS, ReadConnections


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it costs a round trip per checkout on the GetStatus hot path. Connections
    # are recycled instead, and a broken one fails one request and leaves the pool.
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_recycle", RECYCLE_SECONDS)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class Store:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # GetStatus reads go around SQLAlchemy's pool and Connection (cora_ocr.store.reads),
        # on autocommit connections of their own: no BEGIN/ROLLBACK round trips on a server.
        # An in-memory SQLite database exists only in the engine's one connection.
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite and parsed.database in (None, "", ":memory:"):
            self.reads = ReadConnections(self.engine, keep=False)
        else:
            extra = {} if sqlite else {"isolation_level": "AUTOCOMMIT"}
            reads = make_engine(url, poolclass=NullPool, **extra, **engine_kwargs)
            self.reads = ReadConnections(reads)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read_one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One row of a single-statement read (the GetStatus hot path), or None."""
        return self.reads.read_one(statement, params)

    def dispose(self) -> None:
        self.reads.dispose()
        self.engine.dispose()
