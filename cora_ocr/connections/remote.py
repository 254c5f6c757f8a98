"""What SFTP and SMB connections share: a bounded pool of sessions, and running an operation on
one of them.

A session is opened on first use and kept for the next operation, up to `pool_size` per
connection and process; one idle for longer than IDLE_SECONDS is closed instead of reused (the
server may have dropped it). An operation that fails because its session broke (the server
restarted, a firewall forgot the connection) on a session that had been idle in the pool is
tried once more, at once, on a new session; any other failure goes to the caller as
StorageError. Waiting longer between tries is the worker's part: it tries the step again with
backoff (worker/loop.py) and fails the job with the reason once it gives up.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from pathlib import PurePath, PurePosixPath
from typing import BinaryIO, Generic, TypeVar, cast

from cora_ocr.connections.paths import check_file_name, split_location
from cora_ocr.connections.specs import RemoteSpec
from cora_ocr.connections.storage import Storage, StorageError

S = TypeVar("S")
T = TypeVar("T")

IDLE_SECONDS = 60.0


class Broken(Exception):
    """Raised by a storage's translation of an error when the session can no longer be used;
    `error` is what the caller gets."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class SessionPool(Generic[S]):
    """At most `size` open sessions; a caller waits up to `timeout` for one to come back."""

    def __init__(
        self,
        opener: Callable[[], S],
        closer: Callable[[S], None],
        size: int,
        timeout: float,
        label: str,
    ) -> None:
        self.opener, self.closer = opener, closer
        self.size, self.timeout, self.label = size, timeout, label
        self._idle: list[tuple[S, float]] = []
        self._open = 0
        self._ready = threading.Condition()

    def take(self) -> tuple[S, bool]:
        """A session, and whether it was reused from the pool."""
        deadline = time.monotonic() + self.timeout
        with self._ready:
            while True:
                while self._idle:
                    session, since = self._idle.pop()
                    if time.monotonic() - since < IDLE_SECONDS:
                        return session, True
                    self._close(session)
                if self._open < self.size:
                    self._open += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not self._ready.wait(left):
                    raise StorageError(
                        f"all {self.size} sessions to {self.label} stayed busy for"
                        f" {self.timeout:g} s",
                        transient=True,
                    )
        try:
            return self.opener(), False
        except BaseException:
            with self._ready:
                self._open -= 1
                self._ready.notify()
            raise

    def give_back(self, session: S) -> None:
        with self._ready:
            self._idle.append((session, time.monotonic()))
            self._ready.notify()

    def discard(self, session: S) -> None:
        with self._ready:
            self._close(session)
            self._ready.notify()

    def _close(self, session: S) -> None:
        self._open -= 1
        with contextlib.suppress(Exception):  # a broken session may fail to close
            self.closer(session)

    def close(self) -> None:
        with self._ready:
            while self._idle:
                self._close(self._idle.pop()[0])


class RemoteStorage(Storage, Generic[S]):
    """A connection to a server. Subclasses open and close sessions, do each operation on a
    session, and translate their library's errors (`translate`)."""

    spec: RemoteSpec

    def __init__(self, name: str, spec: RemoteSpec) -> None:
        self.name, self.spec = name, spec
        self.pool: SessionPool[S] = SessionPool(
            self._connect, self._disconnect, spec.pool_size, spec.timeout, self.describe()
        )

    def describe(self) -> str:
        return self.spec.describe()  # type: ignore[attr-defined]

    def resolve(self, prefix: str, location: str | None, file_name: str | None) -> PurePath:
        parts = split_location(f"{prefix}.RelativeLocation", location)
        name = check_file_name(f"{prefix}.FileName", file_name)
        return PurePosixPath(self.spec.root or ".", *parts, name)

    def folders(self, target: PurePath) -> tuple[str, ...]:
        """The folders between the root and target (as `resolve` made it)."""
        return target.parts[len(PurePosixPath(self.spec.root or ".").parts) : -1]

    def close(self) -> None:
        self.pool.close()

    # --- what a kind provides ----------------------------------------------------------
    @abstractmethod
    def _connect(self) -> S: ...

    @abstractmethod
    def _disconnect(self, session: S) -> None: ...

    @abstractmethod
    def translate(self, error: Exception, session: S | None) -> BaseException:
        """The error to raise for a library error (FileNotFoundError, TargetExists,
        StorageError...), wrapped in Broken if the session can no longer be used."""

    # --- running operations --------------------------------------------------------------
    def run(self, operation: Callable[[S], T]) -> T:
        """operation(session) on a pooled session, with the retry the module docstring says."""
        while True:
            session, reused = self._take()
            try:
                result = operation(session)
            except Exception as error:
                problem, broken = self._fail(error, session)
                if broken and reused:
                    continue
                raise problem from error
            self.pool.give_back(session)
            return result

    @contextlib.contextmanager
    def reading(self, opener: Callable[[S], BinaryIO]) -> Iterator[BinaryIO]:
        """A file opened by opener(session), its session held until the file is closed."""
        session, handle = self._opened(opener)
        reader = _Translating(handle, self, session)
        try:
            yield cast(BinaryIO, reader)
        except BaseException:
            with contextlib.suppress(Exception):
                handle.close()
            self._release(session, reader.broken)
            raise
        try:
            handle.close()
        except Exception as error:
            problem, _broken = self._fail(error, session)
            raise problem from error
        self._release(session, reader.broken)

    def _opened(self, opener: Callable[[S], BinaryIO]) -> tuple[S, BinaryIO]:
        while True:
            session, reused = self._take()
            try:
                return session, opener(session)
            except Exception as error:
                problem, broken = self._fail(error, session)
                if broken and reused:
                    continue
                raise problem from error

    def _take(self) -> tuple[S, bool]:
        problem = self.spec.secret_problem()
        if problem:
            raise StorageError(problem, transient=False)
        try:
            return self.pool.take()
        except StorageError:
            raise
        except Exception as error:
            raise _unwrap(self.translate(error, None)) from error

    def _fail(self, error: Exception, session: S) -> tuple[BaseException, bool]:
        """The error to raise and whether the session broke; the session goes back to the
        pool, or is closed if it broke."""
        problem = self.translate(error, session)
        broken = isinstance(problem, Broken)
        self._release(session, broken)
        return _unwrap(problem), broken

    def _release(self, session: S, broken: bool) -> None:
        if broken:
            self.pool.discard(session)
        else:
            self.pool.give_back(session)


def rewinder(source: BinaryIO) -> Callable[[], None]:
    """Called at the start of each try of a put: from the second try on, the source is read
    again from where the first began. A source that cannot seek is never tried twice: a try
    on a new session after part of it was sent would write what is left as if it were all."""
    start = source.tell() if source.seekable() else None
    tries = 0

    def rewind() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            return
        if start is None:
            raise StorageError("the connection broke while sending; try again", transient=True)
        source.seek(start)

    return rewind


def _unwrap(problem: BaseException) -> BaseException:
    return problem.error if isinstance(problem, Broken) else problem


class _Translating:
    """A remote file whose errors come out translated; a broken session is closed."""

    def __init__(self, handle: BinaryIO, storage: RemoteStorage[S], session: S) -> None:
        self._handle, self._storage, self._session = handle, storage, session
        self.broken = False

    def read(self, size: int = -1) -> bytes:
        return self._call(lambda: self._handle.read(size))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._call(lambda: self._handle.seek(offset, whence))

    def tell(self) -> int:
        return self._call(self._handle.tell)

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except Exception as error:
            problem = self._storage.translate(error, self._session)
            self.broken = self.broken or isinstance(problem, Broken)
            raise _unwrap(problem) from error
