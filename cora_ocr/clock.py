"""Time as a dependency: the worker asks a clock, so tests move time instead of sleeping.

Production reads one clock for everything another process will compare (leases, start-by and
TimeOut deadlines, next attempts, callback times, quota windows, claim order): the database
server's, through DatabaseClock. Hosts' clocks run at the same rate; what differs between them
is where they stand (a VM whose time sync failed is minutes off), so each process reads the
database's time now and then and adds the difference to its own clock between reads. SQLite is
one host: its clock is the database's."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)
SYNC_SECONDS = 30.0  # how often the database's time is read again
RETRY_SECONDS = 5.0  # after a failed read (the last difference found stays in use)


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class DatabaseClock:
    """The database server's time: this host's clock plus the difference last measured, at
    the midpoint of a `read_database_time()` round trip (a few milliseconds on a LAN)."""

    def __init__(
        self,
        read_database_time: Callable[[], dt.datetime],
        local: Clock | None = None,
        sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        self.read = read_database_time
        self.local = local or SystemClock()
        self.sync_seconds = sync_seconds
        self.offset = dt.timedelta(0)
        self._next_sync = 0.0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        if time.monotonic() >= self._next_sync:
            self.sync()
        return self.local.now() + self.offset

    def sync(self) -> None:
        with self._lock:
            if time.monotonic() < self._next_sync:
                return  # another thread just did
            before = self.local.now()
            try:
                database = self.read()
            except Exception as exc:  # the database away: the last difference stays
                log.debug("the database's time could not be read: %s", exc)
                self._next_sync = time.monotonic() + RETRY_SECONDS
                return
            after = self.local.now()
            offset = database - (before + (after - before) / 2)
            if abs((offset - self.offset).total_seconds()) > 1:
                log.info(
                    "this host's clock is %.1f s %s the database's",
                    abs(offset.total_seconds()),
                    "behind" if offset.total_seconds() > 0 else "ahead of",
                )
            self.offset = offset
            self._next_sync = time.monotonic() + self.sync_seconds
