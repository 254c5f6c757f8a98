"""Single-statement reads (the GetStatus hot path) through SQLAlchemy Core, on an engine of
their own.

On a server database that engine runs its connections in AUTOCOMMIT: a read opens no
transaction, so there is nothing to roll back when the connection goes back to the pool, and
the pool's reset is turned off. That matters beyond the saved round trip: psycopg 3 forgets
its prepared statements on every rollback, so on a pool that resets, the status SELECT would
never get past psycopg's prepare threshold. With AUTOCOMMIT it is prepared on each pooled
connection after a few reads and executed as a prepared statement from then on.

A read that fails because its connection died mid-statement (the server restarted) is retried
once on a new connection: it is a read, so running it twice is harmless. Connections cut while
idle never get that far: the pool's checkout listener (cora_ocr.store.engine) replaces them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Executable, Row
from sqlalchemy.exc import DBAPIError


class Reads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def one(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """The first row of `statement`, or None."""
        try:
            return self._one(statement, params)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        return self._one(statement, params)  # the connection had died: once more, on a new one

    def _one(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(statement, params).first()

    def dispose(self) -> None:
        self.engine.dispose()
