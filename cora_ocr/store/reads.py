"""Single-statement reads (the GetStatus hot path), on an engine of their own.

`Reads` is SQLAlchemy Core as written in its documentation: a pooled connection, `execute`,
`first()`. On a server database the read engine runs its connections in AUTOCOMMIT: a read
opens no transaction, so there is nothing to roll back when the connection goes back to the
pool, and the pool's reset is turned off. That matters beyond the saved round trip: psycopg 3
forgets its prepared statements on every rollback.

`PreparedReads` (PostgreSQL with psycopg) gives the same rows for the same statements, faster:
measured under `bench/run`, Core cost GetStatus 43-47% of its throughput on PostgreSQL (README,
"Performance"). It keeps what SQLAlchemy does: the statement is compiled by SQLAlchemy, the
connection comes from SQLAlchemy's pool (its checkout listener, recycling and invalidation),
parameters and columns go through SQLAlchemy's types over psycopg's own adapters. What it
skips is the per-call machinery: SQLAlchemy's Connection and Result, psycopg's cursor. The
statement is prepared once per pooled connection (remembered in the pool's per-connection
`info`, which goes with the connection) and run through libpq, which releases the GIL while it
waits.

Both retry a read once on a new connection when its connection died mid-statement (the server
restarted): it is a read, so running it twice is harmless. Connections cut while idle never
get that far: the pool's checkout listener (cora_ocr.store.engine) replaces them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Engine, Executable
from sqlalchemy.exc import DBAPIError, StatementError
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
    """The faster path: a pooled connection's DBAPI cursor, the statement compiled once."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._plans: dict[Executable, _Plan] = {}

    def dialect(self) -> Any:
        return self.engine.dialect

    def one(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        plan = self._plans.get(statement)
        if plan is None:
            plan = self._plans[statement] = _Plan(statement, self.dialect())
        args = plan.arguments(params)
        for attempt in (1, 2):
            proxied = self.engine.raw_connection()
            try:
                row = self._run(proxied, plan, args)
            except BaseException as error:
                dead = isinstance(error, Exception) and self._dead(proxied, error)
                with contextlib.suppress(Exception):  # a dead connection may fail to close
                    proxied.invalidate() if dead else proxied.close()
                if not dead or attempt == 2:
                    if isinstance(error, self.engine.dialect.loaded_dbapi.Error):
                        raise self._error(plan, args, error) from error
                    raise
                continue
            proxied.close()
            return row
        raise AssertionError("unreachable")

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

    def _error(self, plan: _Plan, args: list[Any], error: Exception) -> StatementError:
        """The error as SQLAlchemy would raise it (its DBAPIError subclasses)."""
        dialect = self.engine.dialect
        return DBAPIError.instance(
            plan.sql, args, error, dialect.loaded_dbapi.Error, dialect=dialect
        )


class PreparedReads(CompiledReads):
    """psycopg: the statement prepared once per pooled connection (remembered in the pool's
    per-connection `info`, which goes with the connection) and run through libpq, which
    releases the GIL while it waits; values through psycopg's adapters."""

    def dialect(self) -> Any:
        return cast(Any, type(self.engine.dialect))(paramstyle="numeric_dollar")  # $1, $2

    def _run(
        self, proxied: PoolProxiedConnection, plan: _Plan, args: list[Any]
    ) -> tuple[Any, ...] | None:
        from psycopg import errors, pq
        from psycopg.adapt import PyFormat, Transformer

        connection: Any = proxied.dbapi_connection
        pgconn = connection.pgconn
        prepared: dict[str, bytes] = proxied.info.setdefault("cora_prepared", {})
        name = prepared.get(plan.sql)
        if name is None:
            name = f"cora_read_{len(prepared)}".encode()
            result = pgconn.prepare(name, plan.sql.encode())
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(result)
            prepared[plan.sql] = name
        transformer = Transformer(connection)
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
