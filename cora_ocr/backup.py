"""`cora-ocr db backup FILE` and `cora-ocr db restore FILE`.

SQLite: SQLite's online backup API (Python's `Connection.backup`), in one step, so the copy is
one consistent snapshot even while `serve` takes FileBatch calls (the database runs in WAL
mode: the backup reads while the service writes). The copy is written under a temporary name,
checked (`PRAGMA integrity_check`, a migration revision), then renamed into place. Restore
checks the file the same way and copies it into the configured database with the same API.

PostgreSQL: its own tools do this best (consistent, online, parallel); `backup` prints the
`pg_dump` command for the configured database, and docs/guides/production.md gives `pg_restore`'s.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from cora_ocr.errors import CoraError


class BackupError(CoraError):
    """A backup or restore that cannot be done; the message says why."""


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL, or None for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("database_url: an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def pg_dump_command(database_url: str, target: Path) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    shown = url.render_as_string(hide_password=True).replace("***", "$PGPASSWORD")
    return f"pg_dump --format=custom --file '{target}' '{shown}'"


def _check(path: Path) -> str:
    """The migration revision of a SQLite database file; BackupError if it is not one of ours
    or is damaged."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"{path}: the database is damaged ({verdict})")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a cora_ocr SQLite database ({exc})") from None
    if row is None:
        raise BackupError(f"{path}: not a cora_ocr SQLite database (no migration revision)")
    return str(row[0])


def backup_sqlite(database: Path, target: Path) -> str:
    """Copy the live database to `target` (which must not exist); its revision."""
    if not database.is_file():
        raise BackupError(f"database: {database} does not exist")
    if target.exists():
        raise BackupError(f"FILE: {target} exists; name a new file")
    temp = target.with_name(f".{target.name}.backup-part")
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as source,
            contextlib.closing(sqlite3.connect(temp)) as copy,
        ):
            source.execute("PRAGMA busy_timeout=10000")
            source.backup(copy)  # one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # a single file, nothing beside it
        revision = _check(temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return revision


def restore_sqlite(backup: Path, database: Path) -> str:
    """Replace the database's content with the backup's (the service must be stopped)."""
    if not backup.is_file():
        raise BackupError(f"FILE: {backup} does not exist")
    revision = _check(backup)
    database.parent.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as source,
        contextlib.closing(sqlite3.connect(database)) as live,
    ):
        live.execute("PRAGMA busy_timeout=10000")
        source.backup(live)
    return revision
