"""Single-statement reads (the GetStatus hot path), on an engine of their own.

`Reads` is SQLAlchemy Core as its documentation writes it: a pooled connection, `execute`,
`first()`. Measured under `bench/run`, it cost GetStatus 43-47% of its throughput on
PostgreSQL and 17-25% on SQLite (docs/performance/), more than the quarter the project
allows before a faster path on PostgreSQL, and enough on SQLite to miss the 40%-of-ceiling
target. So the store reads through the faster path, behind the same interface and giving the
same rows (tests/integration/test_store_reads.py compares them), and Core serves only an
in-memory SQLite database. What the faster path keeps of SQLAlchemy: the statement is
compiled by its compiler, parameters and columns go through its types, and connections come
from its pool, which opens, recycles, invalidates and disposes of them. What it skips is the
per-call machinery:

- SQLAlchemy's Connection and Result: `CompiledReads` runs the compiled statement on a DBAPI
  cursor; `PreparedReads` (psycopg) prepares it once per connection (remembered in the pool's
  per-connection `info`, which goes with the connection) and runs it through libpq, which
  releases the GIL while it waits, values through psycopg's own adapters;
- the pool's checkout and checkin on every read (about 100 µs of CPU per GetStatus on
  PostgreSQL here): each thread keeps the connection it reads on checked out for up to
  HOLD_SECONDS, then hands it back so that the pool's recycling applies, and hands it back at
  once when the server has cut it while idle (`cut_while_idle`, the check the pool's checkout
  listener also runs).

On a server the read engine runs its connections in AUTOCOMMIT: a read opens no transaction,
and there is nothing to roll back on return to the pool, whose reset is off (psycopg 3 forgets
its prepared statements on every rollback).

Every path retries a read once on a new connection when its connection died mid-statement (the
server restarted): it is a read, so running it twice is harmless.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Engine, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler


class Reads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of `statement`, or None."""
        try:
            return self._one(statement, params)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        return self._one(statement, params)  # the connection had died: once more, on a new one

    def _one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        with self.engine.connect() as conn:
            row = conn.execute(statement, params).first()
        return None if row is None else tuple(row)

    def dispose(self) -> None:
        self.engine.dispose()


# How long a thread keeps its read connection checked out before handing it back to the pool.
HOLD_SECONDS = 60.0


class _Plan:
    """A statement as SQLAlchemy compiles it for `dialect`, with its types' bind and result
    processors."""

    def __init__(self, statement: Executable, dialect: Any) -> None:
        self.compiled: SQLCompiler = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql = self.compiled.string
        self.names = tuple(self.compiled.positiontup or ())
        self.binds: dict[str, Callable[[Any], Any] | None] = {
            name: self.compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names
        }
        self.results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.compiled._result_columns
        ]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(params)
        args = []
        for name in self.names:
            process = self.binds[name]
            args.append(values[name] if process is None else process(values[name]))
        return args

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self.results, values, strict=True)
        )


class CompiledReads(Reads):
    """The faster path (module docstring): each thread's held connection, the statement
    compiled once, run on a DBAPI cursor."""

    def __init__(self, engine: Engine, hold_seconds: float = HOLD_SECONDS) -> None:
        super().__init__(engine)
        self.hold_seconds = hold_seconds
        self._plans: dict[Executable, _Plan] = {}
        self._dialect = self.dialect()
        self._local = threading.local()
        self._held: dict[PoolProxiedConnection, threading.Thread] = {}
        self._lock = threading.Lock()

    def one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        plan = self._plans.get(statement)
        if plan is None:
            plan = self._plans[statement] = _Plan(statement, self._dialect)
        args = plan.arguments(params)
        for attempt in (1, 2):
            proxied = self._take()
            try:
                return self._run(proxied, plan, args)
            except BaseException as error:
                # Judged before letting go: a connection let go of always looks broken.
                dead = isinstance(error, Exception) and self._dead(proxied, error)
                self._let_go(proxied, dead)
                if not dead or attempt == 2:
                    if isinstance(error, self.engine.dialect.loaded_dbapi.Error):
                        dialect = self.engine.dialect
                        raise DBAPIError.instance(
                            plan.sql, args, error, dialect.loaded_dbapi.Error, dialect=dialect
                        ) from error
                    raise
        raise AssertionError("unreachable")

    def _take(self) -> PoolProxiedConnection:
        """This thread's connection: the one it holds, unless the server cut it while idle or
        it has been held for hold_seconds (then it goes back, and the pool, which recycles
        and refreshes its connections on checkout, hands one out again)."""
        held: tuple[PoolProxiedConnection, float] | None = getattr(self._local, "held", None)
        if held is not None:
            proxied, since = held
            if time.monotonic() - since < self.hold_seconds and not cut_while_idle(
                proxied.dbapi_connection
            ):
                return proxied
            self._let_go(proxied, dead=False)
        self._close_orphans()
        proxied = self.engine.raw_connection()
        self._local.held = (proxied, time.monotonic())
        with self._lock:
            self._held[proxied] = threading.current_thread()
        return proxied

    def _close_orphans(self) -> None:
        """Hand back the connections of threads that have ended (a server that replaces its
        threads): nobody else would."""
        with self._lock:
            orphans = [proxied for proxied, owner in self._held.items() if not owner.is_alive()]
            for proxied in orphans:
                del self._held[proxied]
        for proxied in orphans:
            with contextlib.suppress(Exception):
                proxied.close()

    def _let_go(self, proxied: PoolProxiedConnection, dead: bool) -> None:
        self._local.held = None
        with self._lock:
            self._held.pop(proxied, None)
        with contextlib.suppress(Exception):  # a dead connection may fail to close
            if dead:
                proxied.invalidate()
            else:
                proxied.close()  # back to the pool; one cut while idle is refreshed there

    def dialect(self) -> Any:
        return self.engine.dialect

    def _run(
        self, proxied: PoolProxiedConnection, plan: _Plan, args: list[Any]
    ) -> tuple[Any, ...] | None:
        cursor = proxied.cursor()
        try:
            cursor.execute(plan.sql, args)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else plan.row(row)

    def _dead(self, proxied: PoolProxiedConnection, error: Exception) -> bool:
        dialect = self.engine.dialect
        return isinstance(error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
            error, proxied.dbapi_connection, None
        )

    def dispose(self) -> None:
        with self._lock:
            held, self._held = list(self._held), {}
        for proxied in held:
            with contextlib.suppress(Exception):
                proxied.close()
        super().dispose()


class PreparedReads(CompiledReads):
    """psycopg: the statement prepared once per connection and run through libpq, values
    through psycopg's adapters and SQLAlchemy's types (module docstring)."""

    def dialect(self) -> Any:
        return cast(Any, type(self.engine.dialect))(paramstyle="numeric_dollar")  # $1, $2

    def _run(
        self, proxied: PoolProxiedConnection, plan: _Plan, args: list[Any]
    ) -> tuple[Any, ...] | None:
        from psycopg import errors, pq
        from psycopg.adapt import PyFormat, Transformer

        connection: Any = proxied.dbapi_connection
        pgconn = connection.pgconn
        info = proxied.info
        prepared: dict[str, bytes] | None = info.get("cora_prepared")
        if prepared is None:
            # The connection's own: its prepared statements, and psycopg's adapters with the
            # dumpers and loaders they have looked up (a new Transformer looks them up again).
            prepared = info["cora_prepared"] = {}
            info["cora_transformer"] = Transformer(connection)
        name = prepared.get(plan.sql)
        if name is None:
            name = f"cora_read_{len(prepared)}".encode()
            result = pgconn.prepare(name, plan.sql.encode())
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(result)
            prepared[plan.sql] = name
        transformer = info["cora_transformer"]
        values = transformer.dump_sequence(args, [PyFormat.TEXT] * len(args))
        result = pgconn.exec_prepared(name, values)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise errors.error_from_result(result)
        if result.ntuples == 0:
            return None
        transformer.set_pgresult(result)
        return plan.row(transformer.load_row(0, tuple))

    def _dead(self, proxied: PoolProxiedConnection, error: Exception) -> bool:
        from psycopg import pq

        connection: Any = proxied.dbapi_connection
        return connection is None or connection.pgconn.status != pq.ConnStatus.OK


def cut_while_idle(dbapi_connection: Any) -> bool:
    """Whether the server has closed this idle psycopg connection (a restart,
    pg_terminate_backend, an idle timeout): an idle connection with something to read holds
    the server's last words, or the end of the stream. A zero-timeout select costs
    microseconds; a ping would cost a round trip."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except Exception:  # the socket is already gone
        return True
    return bool(readable)
