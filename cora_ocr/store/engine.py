"""Engine and session factory; built once by the caller, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler


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
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class Store:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self._compiled: dict[Executable, SQLCompiler] = {}
        # Single-statement reads (GetStatus) need no transaction. On a server database an
        # engine of autocommit connections saves the BEGIN/ROLLBACK round trips around them
        # (its own pool: switching a pooled connection back and forth costs statements too;
        # with no transaction there is nothing to roll back when a connection is returned).
        self.reads = (
            make_engine(
                url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **engine_kwargs
            )
            if self.engine.dialect.name != "sqlite"
            else self.engine
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read_one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One row of a single-statement read, straight on a pooled DBAPI connection: the
        statement is compiled once, and none of the Connection/Result machinery runs (it is
        most of the cost of a GetStatus on SQLite)."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = statement.compile(dialect=self.reads.dialect)  # type: ignore[attr-defined]
            self._compiled[statement] = compiled
        args: Any = compiled.construct_params(params)
        if compiled.positiontup is not None:
            args = tuple(args[name] for name in compiled.positiontup)
        connection = self.reads.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(compiled.string, args)
            row = cursor.fetchone()
            cursor.close()
        finally:
            connection.close()
        return None if row is None else tuple(row)

    def dispose(self) -> None:
        self.engine.dispose()
        self.reads.dispose()
