"""Single-statement reads on connections of their own: the GetStatus hot path.

A GetStatus is one indexed SELECT. Run through SQLAlchemy's pool, Connection and Result it
costs several times the query; here a statement is compiled once, each connection is kept
by this class (idle ones on a stack, as many as there were concurrent reads), and:

- on PostgreSQL with psycopg, the statement is prepared once per connection and executed
  through libpq directly (psycopg's cursor machinery is most of the client-side cost; libpq
  releases the GIL while it waits, so other threads run);
- on any other driver, through a plain DBAPI cursor.

A read that fails because its connection died (the server restarted, an idle connection was
cut) is retried once on a new connection: it is a read, so running it twice is harmless.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, cast

from sqlalchemy import Engine, Executable
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

# Kept connections are replaced after this long, as the main engine's pool recycles its own.
RECYCLE_SECONDS = 1800
_INT_OIDS = frozenset({20, 21, 23})  # int8, int2, int4
_TEXT_OIDS = frozenset({25, 1043, 1042, 19})  # text, varchar, bpchar, name


class ReadError(Exception):
    """A read that failed on the libpq path, with the server's message."""


class _Reader:
    """One connection and the statements it has prepared."""

    def __init__(self, proxied: PoolProxiedConnection) -> None:
        self.proxied = proxied
        self.opened = time.monotonic()
        dbapi: Any = proxied.dbapi_connection
        self.pgconn: Any = getattr(dbapi, "pgconn", None)  # psycopg 3's libpq connection
        self.prepared: dict[str, bytes] = {}

    def fetch_one(self, sql: str, args: Any) -> tuple[Any, ...] | None:
        if self.pgconn is None:
            cursor = self.proxied.cursor()
            try:
                cursor.execute(sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
            return None if row is None else tuple(row)
        return self._fetch_pq(sql, args)

    def _fetch_pq(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        from psycopg import pq

        name = self.prepared.get(sql)
        if name is None:
            name = f"cora_read_{len(self.prepared)}".encode()
            self._check(self.pgconn.prepare(name, sql.encode()), pq.ExecStatus.COMMAND_OK)
            self.prepared[sql] = name
        values = [None if arg is None else str(arg).encode() for arg in args]
        result = self.pgconn.exec_prepared(name, values)
        self._check(result, pq.ExecStatus.TUPLES_OK)
        if result.ntuples == 0:
            return None
        return tuple(_value(result.ftype(i), result.get_value(0, i)) for i in range(result.nfields))

    def _check(self, result: Any, expected: Any) -> None:
        if result.status != expected:
            message = (result.error_message or self.pgconn.error_message).decode("utf-8", "replace")
            raise ReadError(message.strip())

    @property
    def broken(self) -> bool:
        from psycopg import pq

        return self.pgconn is not None and self.pgconn.status != pq.ConnStatus.OK

    def close(self, dead: bool = False) -> None:
        """Give the connection back; a dead one is invalidated: the pool's reset (a rollback)
        would fail on it and log an ERROR for an outage that the retry rides out."""
        with contextlib.suppress(Exception):  # a dead connection may fail to close: gone anyway
            if dead:
                self.proxied.invalidate()
            else:
                self.proxied.close()


def _value(oid: int, raw: bytes | None) -> Any:
    if raw is None:
        return None
    if oid in _INT_OIDS:
        return int(raw)
    if oid in _TEXT_OIDS:
        return raw.decode("utf-8")
    raise TypeError(f"read_one reads integer and text columns, not type oid {oid}")


class ReadConnections:
    """Connections for single-statement reads, reused LIFO; `keep=False` closes each after
    its read (an in-memory SQLite database, which lives in the one pooled connection)."""

    def __init__(
        self, engine: Engine, keep: bool = True, recycle_seconds: float = RECYCLE_SECONDS
    ) -> None:
        self.engine = engine
        self.keep = keep
        self.recycle_seconds = recycle_seconds
        self._idle: list[_Reader] = []
        self._compiled: dict[Executable, SQLCompiler] = {}

    def compile(self, statement: Executable) -> SQLCompiler:
        compiled = self._compiled.get(statement)
        if compiled is None:
            dialect = self.engine.dialect
            if self.engine.driver == "psycopg":
                # libpq's own placeholders ($1, $2, ...) for prepared statements
                dialect = cast(Any, type(dialect))(paramstyle="numeric_dollar")
            compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            self._compiled[statement] = compiled
        return compiled

    def read_one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        compiled = self.compile(statement)
        values = compiled.construct_params(params)
        names = compiled.positiontup
        args: Any = tuple(values[name] for name in names) if names is not None else values
        reader, reused = self._take()
        while True:
            try:
                row = reader.fetch_one(compiled.string, args)
                break
            except BaseException as error:
                # Judged before closing: a closed connection always looks broken.
                dead = self._disconnected(error, reader)
                reader.close(dead)
                if not (reused and dead):
                    raise
                reader, reused = self._open(), False  # the kept one had died: once more
        self._give_back(reader)
        return row

    def _disconnected(self, error: BaseException, reader: _Reader) -> bool:
        if not isinstance(error, Exception):  # an interrupt is not a dead connection
            return False
        if reader.pgconn is not None:
            return reader.broken
        dialect = self.engine.dialect
        return isinstance(error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
            error, reader.proxied.dbapi_connection, None
        )

    def _take(self) -> tuple[_Reader, bool]:
        try:
            return self._idle.pop(), True
        except IndexError:
            return self._open(), False

    def _open(self) -> _Reader:
        return _Reader(self.engine.raw_connection())

    def _give_back(self, reader: _Reader) -> None:
        if self.keep and time.monotonic() - reader.opened < self.recycle_seconds:
            self._idle.append(reader)
        else:
            reader.close()

    def dispose(self) -> None:
        while self._idle:
            self._idle.pop().close()
        self.engine.dispose()
