"""Waking an idle worker without a poll interval's delay.

Three sources, each optional; polling (`idle_sleep_seconds`, `poll_seconds`) stays as the
fallback for what they miss (a network share's events, a listener reconnecting):

- a job submitted in this process (`serve`: SQLite's only way to hear of it at once);
- PostgreSQL notifications on CHANNEL, sent by a trigger on every insert into jobs
  (migration 0008), heard by a LISTEN thread on a connection of its own;
- robot answers in the profiles' output folders (inotify, through watchdog): the answered
  job is made due at once (`answered` collects the job ids for the loop to do so).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)
CHANNEL = "cora_ocr_jobs"
_JOB_FILE = re.compile(r"(\d+)-[0-9a-f]{8}-")  # profiles.robot_file_name


class LocalWakeups:
    """The idle workers of one process, woken at once by a job submitted in the same process
    (other processes hear of it on PostgreSQL's CHANNEL). One per process, made where its
    services are built (cora_ocr/services.py) and handed to its use cases and workers."""

    def __init__(self) -> None:
        self._waiting: weakref.WeakSet[Wakeup] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, wakeup: Wakeup) -> None:
        with self._lock:
            self._waiting.add(wakeup)

    def job_submitted(self) -> None:
        """A job was inserted in this process: wake its idle workers."""
        with self._lock:
            waiting = list(self._waiting)
        for wakeup in waiting:
            wakeup.event.set()


class Wakeup:
    def __init__(self, local: LocalWakeups | None = None) -> None:
        self.event = threading.Event()
        self._answered: set[int] = set()
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []
        self._observer: Any = None
        if local is not None:
            local.add(self)

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)
        self.event.clear()

    def now(self) -> None:
        """Wake the waiting loop (a stop, say)."""
        self.event.set()

    def answered(self) -> set[int]:
        """Job ids the robot has answered since the last call."""
        with self._lock:
            found, self._answered = self._answered, set()
        return found

    def _robot_file(self, path: str) -> None:
        name = Path(path).name
        match = _JOB_FILE.match(name)
        if match is None:  # hidden (progress, temp files) or not a job's
            return
        with self._lock:
            self._answered.add(int(match.group(1)))
        self.event.set()

    # --- sources ----------------------------------------------------------------------------
    def start(self, engine: Engine, folders: Iterable[Path]) -> None:
        self._halt.clear()
        if engine.dialect.name == "postgresql":
            thread = threading.Thread(
                target=self._listen, args=(engine,), name="worker-listen", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._watch(folders)

    def stop(self) -> None:
        self._halt.set()
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.stop()
                self._observer.join(5)
            self._observer = None
        for thread in self._threads:
            thread.join(5)
        self._threads = []

    def _watch(self, folders: Iterable[Path]) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            wakeup = self

            class Answers(FileSystemEventHandler):
                def on_created(self, event: Any) -> None:
                    wakeup._robot_file(event.src_path)

                def on_moved(self, event: Any) -> None:
                    wakeup._robot_file(event.dest_path)

            observer = Observer()
            for folder in dict.fromkeys(folders):
                if folder.is_dir():
                    observer.schedule(Answers(), str(folder), recursive=False)
            observer.start()
            self._observer = observer
        except Exception as exc:  # no inotify here (limits, a network share): poll
            log.info("no file-system events for the robot folders (%s); polling", exc)

    def _listen(self, engine: Engine) -> None:
        """LISTEN on CHANNEL until stopped, reconnecting after trouble."""
        import psycopg

        args, kwargs = engine.dialect.create_connect_args(engine.url)
        while not self._halt.is_set():
            try:
                with psycopg.connect(*args, **{**kwargs, "autocommit": True}) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.event.set()  # jobs may have come while not listening
                    while not self._halt.is_set():
                        for _notice in conn.notifies(timeout=1.0):
                            self.event.set()
            except Exception as exc:  # the database is away: the loop's outage handling says so
                log.debug("job notifications unavailable: %s", exc)
                self._halt.wait(2.0)
