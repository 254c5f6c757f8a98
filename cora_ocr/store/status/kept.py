"""GetStatus rows kept between changes, on PostgreSQL, for the processes that answer it.

A Cora workflow asks for a job's status many times between two of its transitions, and each
answer read from the database costs a round trip: on the 2-core bench machine about 100 µs of
the web process's CPU per GetStatus (the read itself, and the caches the wait leaves cold) and
the server's share besides. So a web process keeps the rows it has read, and forgets one as
soon as it changes:

- the database says so: a trigger (migration 0009) sends the job id on CHANNEL with every
  update that changes a column GetStatus reads, and `*` when jobs are deleted; a thread of
  this process LISTENs on a connection of its own. The rows are used only while it is known
  to hear: it notifies itself every second and must hear that (`_hear`). Before it has, and
  from the moment its connection fails or goes silent until it hears itself again (when
  everything kept is dropped, since notices may have been missed), every read goes to the
  database;
- this process says so first: a transition committed here forgets its job in the committing
  thread, after the commit (`forget`), so this process's own writes are seen at once.

A read that began before a change and ends after it must not keep what it read: each read
takes a ticket (`ticket`), and a row is kept (`keep`) only if nothing was forgotten since.
Another process's change is seen here once its notice arrives, a fraction of a millisecond
after its commit on loopback (as a read that began a moment earlier would have seen the old
row anyway). Reads of jobs that do not exist are never kept.

SQLite has no notices, but every commit to a database in WAL mode (ours: store/engine.py)
rewrites the wal-index header, the first 96 bytes of its `-shm` file (two copies of a 48-byte
header whose change counter and last frame move with each transaction; SQLite's "WAL-mode
File Format", section 2.2), before the commit returns. `SqliteStatusRows` maps those bytes
and compares them with what it saw last before every use of what it keeps, forgetting
everything when they differ: a fraction of a microsecond, holding the GIL. Asking SQLite
instead (`PRAGMA data_version`) costs 1.7 µs in a loop but about 25 µs of CPU a request under
the server, where every call that lets go of the GIL hands it to another thread. Where there
is no such file (another journal or locking mode) or no way to map it (not Linux) it asks
SQLite. Its connection, held open, keeps the `-shm` file in place.

The mapping is made from SQLite's own descriptor of the `-shm` file, found in /proc/self/fd,
never from one of ours: SQLite's locks on that file are POSIX record locks, which belong to
the process, and closing *any* descriptor of the file drops them all. A process whose locks
are gone looks absent to the next process that opens the database, which then takes the
wal-index for unused and truncates it under this one's feet (a SIGBUS in SQLite's own
mapping, and two processes on two different wal-indexes). Python's `mmap` duplicates the
descriptor it is given and closes the duplicate when it is closed, so the mapping is made
with libc's `mmap` through ctypes, and never unmapped (a page of address space per `start`):
unmapping it could pull it from under a `get` in flight.

Every commit counts (a worker's lease renewal too), so rows are kept between changes to the
database rather than to the job; commits of this process and of others are seen alike, at
once. An in-memory database keeps nothing (it lives in one connection of the main engine).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import mmap
import os
import secrets
import threading
import time
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

CHANNEL = "cora_ocr_status"
EVERYTHING = "*"
PING = "ping:"
MAX_ROWS = 100_000  # past it, everything kept is dropped (rare: a row is a few hundred bytes)
# The listener proves every second that notices reach it (it hears its own ping); rows are
# used only within this long of the last proof, so a connection that hangs (a network cut
# with no reset) stops them as surely as one that fails.
FRESH_SECONDS = 3.0


class StatusRows:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._rows: dict[int, Any] = {}
        self._changes = 0  # how many times anything was forgotten
        self._listening = False
        self._fresh_until = 0.0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.backend_pid: int | None = None  # the listening connection's server process

    @property
    def listening(self) -> bool:
        return self._listening and time.monotonic() < self._fresh_until

    # --- reading -------------------------------------------------------------------------
    def get(self, job_id: int) -> Any | None:
        return self._rows.get(job_id) if self.listening else None

    def ticket(self) -> int | None:
        """Taken before a read from the database; None: do not keep what it reads."""
        return self._changes if self.listening else None

    def keep(self, job_id: int, row: Any, ticket: int | None) -> None:
        if ticket is None or row is None:
            return
        with self._lock:
            if self._changes != ticket or not self.listening:
                return  # something changed while the row was read: it may be old
            if len(self._rows) >= MAX_ROWS:
                self._rows.clear()
            self._rows[job_id] = row

    # --- forgetting ----------------------------------------------------------------------
    def forget(self, job_ids: Any = None) -> None:
        """Forget these jobs' rows, or all of them (None)."""
        with self._lock:
            self._changes += 1
            if job_ids is None:
                self._rows.clear()
            else:
                for job_id in job_ids:
                    self._rows.pop(job_id, None)

    def _heard(self, payload: str) -> None:
        if payload == EVERYTHING:
            self.forget()
            return
        try:
            job_id = int(payload)
        except ValueError:
            self.forget()
            return
        self.forget((job_id,))

    # --- the listener --------------------------------------------------------------------
    def start(self) -> None:
        if self.engine.dialect.name != "postgresql" or self.engine.driver != "psycopg":
            return
        self._halt.clear()
        self._thread = threading.Thread(target=self._listen, name="status-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._stopped_listening()

    def _stopped_listening(self) -> None:
        with self._lock:
            self._listening = False
            self._changes += 1
            self._rows.clear()

    def _listen(self) -> None:
        import psycopg

        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        kwargs = {**kwargs, "autocommit": True, "tcp_user_timeout": int(FRESH_SECONDS * 1000)}
        kwargs.update(keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=2)
        while not self._halt.is_set():
            try:
                with psycopg.connect(*args, **kwargs) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    self._hear(conn)
            except Exception as exc:  # the database is away: read it directly meanwhile
                log.debug("status notices unavailable: %s", exc)
            finally:
                self._stopped_listening()
            self._halt.wait(1.0)

    def _hear(self, conn: Any) -> None:
        """Notices until stopped. Every second the listener notifies itself (`ping:<token>`);
        hearing its own ping proves that notices reach it (a connection pooler in transaction
        mode, say, would swallow them) and keeps the rows in use for FRESH_SECONDS."""
        ping = f"{PING}{secrets.token_hex(8)}"
        while not self._halt.is_set():
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, ping))
            for notice in conn.notifies(timeout=1.0):
                if notice.payload == ping:
                    self._proven()
                elif not notice.payload.startswith(PING):  # another process's ping
                    self._heard(notice.payload)

    def _proven(self) -> None:
        with self._lock:
            if not self._listening:
                self._rows.clear()  # notices may have been missed while not listening
                self._changes += 1
                self._listening = True
            self._fresh_until = time.monotonic() + FRESH_SECONDS


WAL_INDEX_HEADER_BYTES = 96  # both copies of the wal-index header


class SqliteStatusRows(StatusRows):
    """The rows kept on a SQLite database file, while nothing commits (module docstring)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._connection: Any = None
        self._cursor: Any = None
        self._wal_index: Any = None  # a ctypes char array over the wal-index header
        self._seen: Any = None  # the wal-index header, or data_version, when last compared

    @property
    def listening(self) -> bool:
        return self._connection is not None

    @property
    def watches_wal_index(self) -> bool:
        return self._wal_index is not None

    def start(self) -> None:
        connection = self.engine.raw_connection()  # file databases: usable from any thread
        cursor = connection.cursor()
        wal_index = _map_wal_index(cursor)
        with self._lock:
            self._connection, self._cursor, self._wal_index = connection, cursor, wal_index
            self._seen = None

    def stop(self) -> None:
        with self._lock:
            connection, self._connection, self._cursor = self._connection, None, None
            self._wal_index = None  # left mapped (module docstring)
            self._changes += 1
            self._rows.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def get(self, job_id: int) -> Any | None:
        """The row kept for this job if nothing has been committed since it was read. Looking
        comes first, so that a ticket taken after a miss counts every commit before it."""
        seen: Any = None
        wal_index = self._wal_index
        if wal_index is not None:
            seen = wal_index.raw
            if seen == self._seen:
                return self._rows.get(job_id)
        with self._lock:
            if self._cursor is None:
                return None
            if wal_index is None:
                try:
                    seen = self._cursor.execute("PRAGMA data_version").fetchone()[0]
                except Exception as exc:  # the read that follows reports what is wrong
                    log.debug("PRAGMA data_version failed: %s", exc)
                    seen = None
            if seen is None or seen != self._seen:
                self._seen = seen
                self._changes += 1
                self._rows.clear()
                return None
            return self._rows.get(job_id)


def _map_wal_index(cursor: Any) -> Any:
    """The wal-index header of this connection's database, mapped for reading from SQLite's
    own descriptor (module docstring); None where there is none to map (not in WAL mode, an
    exclusive locking mode, no `-shm` file, no /proc or libc)."""
    try:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            return None
        if str(cursor.execute("PRAGMA locking_mode").fetchone()[0]).lower() != "normal":
            return None
        cursor.execute("PRAGMA data_version").fetchone()  # a read: SQLite opens the wal-index
        path = cursor.execute("PRAGMA database_list").fetchone()[2]
        descriptor = _descriptor_of(f"{path}-shm")
        if descriptor is None:
            raise OSError(f"SQLite holds no descriptor of {path}-shm")
        address = _libc_mmap()(
            None, WAL_INDEX_HEADER_BYTES, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0
        )
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap of the wal-index failed")
        return (ctypes.c_char * WAL_INDEX_HEADER_BYTES).from_address(address)
    except Exception as exc:  # the rows are kept by asking SQLite instead
        log.info("no wal-index to watch (%s); asking SQLite for its data version", exc)
        return None


def _descriptor_of(path: str) -> int | None:
    """A descriptor this process already has open on `path`'s file (SQLite's: nothing else
    here opens a `-shm` file), found without opening one."""
    wanted = os.stat(path)
    for name in os.listdir("/proc/self/fd"):
        try:
            found = os.fstat(int(name))
        except OSError:  # the listing's own descriptor, or one closed meanwhile
            continue
        if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
            return int(name)
    return None


def _libc_mmap() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    function = libc.mmap
    function.restype = ctypes.c_void_p
    function.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    return function
