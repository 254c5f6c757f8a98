"""A pool of robot processes for one profile (`robot_processes`, default: the machine's cores),
or for several: `serve` runs one pool for every profile the built-in robot serves, each of its
processes reading those profiles in turns (robot/turns.py).

Each process is a whole robot (robot/hotfolder.py: its own engine, claims and pulse, one of
each per profile); they share the work through the hot folders alone, so a pool on one
machine and robots on others mix freely. The pool restarts a process that dies (what it held
is taken back by the others, or by its successor, after the claim timeout) and stops them all
on `stop`: each finishes the page in hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cora_ocr.logs import JsonFormatter
from cora_ocr.metrics import process_gone
from cora_ocr.outages import Backoff
from cora_ocr.profiles import Profile
from cora_ocr.robot import crashes

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 30.0
# A pool process whose document was taken away mid-page exits with this (EX_TEMPFAIL) and
# is replaced at once: no error, no backoff.
ABANDONED_EXIT = 75
ABANDONED_POLL = 0.2
ABANDONED_GRACE = 0.6


def _robot_process(profiles: tuple[Profile, ...], level: str, log_format: str, burst: bool) -> None:
    """A pool process: one robot for each profile, taking turns, until SIGTERM (or, in burst,
    until nothing is left)."""
    from cora_ocr import logs
    from cora_ocr.robot.hotfolder import Robot
    from cora_ocr.robot.turns import SharedRobot
    from cora_ocr.signals import StopSignals

    logs.configure(level, log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool's owner decides when to stop
    limit_memory(memory_limit(profiles))
    pool = os.getppid()
    robot: Any = (
        Robot(profiles[0], supervisor=pool)
        if len(profiles) == 1
        else SharedRobot([Robot(profile, supervisor=pool) for profile in profiles])
    )
    StopSignals(robot.stop, [signal.SIGTERM])
    _stop_when_orphaned(robot.stop)
    _exit_when_abandoned(robot)
    try:
        robot.run(burst=burst)
    finally:
        robot.close()


def _lone_process(profile: Profile, name: str, level: str, log_format: str) -> None:
    """A fresh process that reads one document alone, its pages spread to no one, under the
    memory limit: the last chance of a document whose reading killed two processes
    (robot/crashes.py). If it dies too, its pool refuses the document with the cause."""
    from cora_ocr import logs
    from cora_ocr.robot.hotfolder import Robot

    logs.configure(level, log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_memory(profile.robot_memory_mb)
    alone = dataclasses.replace(profile, robot_processes=1)
    robot = Robot(alone, supervisor=os.getppid(), lone=True)
    _stop_when_orphaned(robot.stop)
    _exit_when_abandoned(robot)
    try:
        claimed = robot.claim_alone(name)
        if claimed is not None:
            log.info("reading %s alone", name)
            robot.process(claimed)
    finally:
        robot.close()


def memory_limit(profiles: tuple[Profile, ...]) -> int:
    """A process that reads several profiles may need the largest of their limits (0: none)."""
    limits = [profile.robot_memory_mb for profile in profiles]
    return 0 if 0 in limits else max(limits)


def limit_memory(megabytes: int) -> None:
    """The process's address space (RLIMIT_AS): a page that needs more fails to allocate
    (MemoryError, or the process dies) instead of taking the machine's memory; the document
    is read once more alone, then refused (robot/crashes.py)."""
    if megabytes:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _exit_when_abandoned(robot: Any) -> None:
    """Stop the process when the document it reads is taken away (its job aborted or
    deleted) while it is inside one page: rendering or recognising a page is one call into
    PDFium or Tesseract that nothing else can cut short. Between pages the robot notices by
    itself; ABANDONED_GRACE covers that. The pool starts another process at once."""

    def watch() -> None:
        seen: Path | None = None
        missing_since = 0.0
        while not robot.stop_event.wait(ABANDONED_POLL):
            work: Path | None = robot.working_on
            if work is None or os.path.lexists(work):
                seen = None
            elif work is not seen:
                seen, missing_since = work, time.monotonic()
            elif time.monotonic() - missing_since >= ABANDONED_GRACE:
                log.warning(
                    "%s was taken away (its job aborted or deleted) while being read; "
                    "this robot process stops now and another takes its place",
                    work.name,
                )
                os._exit(ABANDONED_EXIT)

    threading.Thread(target=watch, name="abandon-watch", daemon=True).start()


def _stop_when_orphaned(stop: Callable[[], None]) -> None:
    """A pool process outlives its owner only if the owner died without stopping it (SIGKILL,
    the OOM killer, a crash); it then stops as if asked, after the page in hand, instead of
    running on with nobody to restart or stop it (a restarted owner starts a pool of its own).
    The owner's sentinel is a pipe that reads as closed once the owner is gone."""
    owner = multiprocessing.parent_process()
    if owner is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([owner.sentinel])
        log.warning("the pool's owner (process %s) is gone; stopping", owner.pid)
        stop()

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


class RobotPool:
    def __init__(self, profiles: Profile | Sequence[Profile], processes: int | None = None) -> None:
        self.profiles = (profiles,) if isinstance(profiles, Profile) else tuple(profiles)
        self.profile = self.profiles[0]
        self.name = ", ".join(profile.name for profile in self.profiles)
        self.size = processes or max(profile.robot_processes for profile in self.profiles)
        # The processes log as the command that started them: its level and format.
        root = logging.getLogger()
        self.level = logging.getLevelName(root.getEffectiveLevel())
        json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        self.log_format = "json" if json_lines else "text"
        self._context = multiprocessing.get_context("spawn")  # no threads or sockets inherited
        self._processes: list[Any] = []
        self._lone: tuple[Any, Profile, str] | None = None  # a lone re-read under way
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self.restarts = 0

    def _start_one(self, burst: bool) -> Any:
        # Read by glibc when the process starts (spawn: a fresh interpreter with this
        # environment): two malloc arenas, not one per thread. Reserved arenas count against
        # robot_memory_mb; a process's baseline falls from about 790 to 260 MB of it.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        process = self._context.Process(
            target=_robot_process,
            args=(self.profiles, self.level, self.log_format, burst),
            name=f"cora-ocr robot {self.name}",
            daemon=True,
        )
        process.start()
        return process

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.is_alive()]

    def run(self, burst: bool = False) -> None:
        """Start the processes and keep them running until `stop` (burst: until each has
        found nothing left to do). A process that dies while the pool lives is a crash:
        its claims folders say how (robot/crashes.py), and what it held counts against the
        documents. One document at a time is read alone, in a process of its own."""
        self._processes = [self._start_one(burst) for _ in range(self.size)]
        backoff = Backoff(base=1.0, cap=30.0)
        while not self._stopping.is_set():
            self._tend_lone_read()
            if burst:
                if self._lone is None and not any(p.is_alive() for p in self._processes):
                    return
                self._stopping.wait(0.1)
                continue
            for index, process in enumerate(self._processes):
                if process.is_alive() or self._stopping.is_set():
                    continue
                if process.exitcode == ABANDONED_EXIT:
                    process_gone(process.pid)
                    self._processes[index] = self._start_one(burst)
                    continue
                cause = crashes.cause_of(process.exitcode, memory_limit(self.profiles))
                crashes.record_crash(self.profiles, process.pid, cause)
                log.error(
                    "robot process %s of profile %s died (exit code %s); starting another",
                    process.pid,
                    self.name,
                    process.exitcode,
                )
                self.restarts += 1
                process_gone(process.pid)
                self._stopping.wait(backoff.next_delay())
                if not self._stopping.is_set():
                    self._processes[index] = self._start_one(burst)
            self._stopping.wait(0.5)

    def _tend_lone_read(self) -> None:
        """Judge the lone re-read that ended, and start the next one waiting."""
        if self._lone is not None:
            process, profile, name = self._lone
            if process.is_alive():
                return
            process_gone(process.pid)
            self._lone = None
            if process.exitcode not in (0, ABANDONED_EXIT):
                cause = crashes.cause_of(process.exitcode, profile.robot_memory_mb)
                crashes.refuse_after_lone_read(profile, name, cause)
        if self._stopping.is_set():
            return
        for profile in self.profiles:
            with contextlib.suppress(OSError):
                waiting = sorted(entry.name for entry in os.scandir(profile.alone_dir))
                if waiting:
                    self._lone = (self._start_lone(profile, waiting[0]), profile, waiting[0])
                    return

    def _start_lone(self, profile: Profile, name: str) -> Any:
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        process = self._context.Process(
            target=_lone_process,
            args=(profile, name, self.level, self.log_format),
            name=f"cora-ocr robot {profile.name} (alone)",
            daemon=True,
        )
        process.start()
        return process

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Ask every process to stop after its page in hand; kill those that do not. Calls
        from several threads (a signal's, the owner's) take turns: two joining the same
        process at once could each see the other reap it and call it alive."""
        self._stopping.set()
        with self._stop_lock:
            every = [*self._processes, *([self._lone[0]] if self._lone else [])]
            for process in every:
                if process.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        process.terminate()  # SIGTERM: the robot's stop
            for process in every:
                process.join(timeout)
                if process.is_alive():
                    log.warning(
                        "robot process %s did not stop in %.0f s; killed", process.pid, timeout
                    )
                    process.kill()
                    process.join()
                process_gone(process.pid)
