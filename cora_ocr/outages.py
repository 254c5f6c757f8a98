"""Expected weather: database restarts, lock timeouts, vanished folders. The loops that move
jobs (worker, robot, `serve`'s supervisor) ride them out with the same three pieces: what
counts as transient, capped exponential backoff with jitter, and one log line per outage."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from sqlalchemy import exc as sa_exc


def is_database_trouble(error: BaseException) -> bool:
    """The database (or the way to it) failed, rather than the work at hand."""
    return isinstance(error, sa_exc.DBAPIError | sa_exc.TimeoutError)


def is_transient(error: BaseException) -> bool:
    """A database that is restarting, unreachable, locked or that cut the connection, or a
    file system error: worth retrying. Anything else is a defect."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError | OSError,
    )


def describe(error: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class Backoff:
    """Delays of base·2ⁿ seconds, capped, each drawn between half and all of that."""

    base: float = 0.1
    cap: float = 30.0
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Outage:
    """Tracks one kind of trouble (`what`, e.g. "database"): a WARNING when it starts, an
    INFO when it ends, nothing in between; a defect gets an ERROR with its traceback."""

    what: str
    logger: logging.Logger
    backoff: Backoff = field(default_factory=Backoff)
    since: float | None = None

    def failed(self, error: BaseException) -> float:
        """Log as needed; the seconds to wait before trying again."""
        if not is_transient(error):
            self.logger.error("%s: unexpected error; retrying", self.what, exc_info=error)
        elif self.since is None:
            self.logger.warning(
                "%s unavailable (%s); retrying with backoff", self.what, describe(error)
            )
        if self.since is None:
            self.since = time.monotonic()
        return self.backoff.next_delay()

    def succeeded(self) -> None:
        if self.since is not None:
            self.logger.info(
                "%s available again after %.1f s (%d failed attempts)",
                self.what,
                time.monotonic() - self.since,
                self.backoff.failures,  # one delay drawn per failed attempt
            )
        self.since = None
        self.backoff.reset()

    @property
    def ongoing(self) -> bool:
        return self.since is not None
