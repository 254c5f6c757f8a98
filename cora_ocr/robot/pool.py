"""A pool of robot processes for one profile (`robot_processes`, default: the machine's cores).

Each process is a whole robot (robot/hotfolder.py: its own engine, claims and pulse); they
share the work through the hot folders alone, so a pool on one machine and robots on others
mix freely. The pool restarts a process that dies (what it held is taken back by the others,
or by its successor, after the claim timeout) and stops them all on `stop`: each finishes the
page in hand.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import signal
import threading
from collections.abc import Callable
from typing import Any

from cora_ocr.logs import JsonFormatter
from cora_ocr.metrics import process_gone
from cora_ocr.outages import Backoff
from cora_ocr.profiles import Profile

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 30.0


def _robot_process(profile: Profile, level: str, log_format: str, burst: bool) -> None:
    """A pool process: one robot, until SIGTERM (or, in burst, until nothing is left)."""
    from cora_ocr import logs
    from cora_ocr.robot.hotfolder import Robot
    from cora_ocr.signals import StopSignals

    logs.configure(level, log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool's owner decides when to stop
    robot = Robot(profile)
    StopSignals(robot.stop, [signal.SIGTERM])
    _stop_when_orphaned(robot.stop)
    try:
        robot.run(burst=burst)
    finally:
        robot.close()


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
    def __init__(self, profile: Profile, processes: int | None = None) -> None:
        self.profile = profile
        self.size = processes or profile.robot_processes
        # The processes log as the command that started them: its level and format.
        root = logging.getLogger()
        self.level = logging.getLevelName(root.getEffectiveLevel())
        json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        self.log_format = "json" if json_lines else "text"
        self._context = multiprocessing.get_context("spawn")  # no threads or sockets inherited
        self._processes: list[Any] = []
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self.restarts = 0

    def _start_one(self, burst: bool) -> Any:
        process = self._context.Process(
            target=_robot_process,
            args=(self.profile, self.level, self.log_format, burst),
            name=f"cora-ocr robot {self.profile.name}",
            daemon=True,
        )
        process.start()
        return process

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.is_alive()]

    def run(self, burst: bool = False) -> None:
        """Start the processes and keep them running until `stop` (burst: until each has
        found nothing left to do)."""
        self._processes = [self._start_one(burst) for _ in range(self.size)]
        backoff = Backoff(base=1.0, cap=30.0)
        while not self._stopping.is_set():
            if burst:
                if not any(process.is_alive() for process in self._processes):
                    return
                self._stopping.wait(0.1)
                continue
            for index, process in enumerate(self._processes):
                if process.is_alive() or self._stopping.is_set():
                    continue
                log.error(
                    "robot process %s of profile %s died (exit code %s); starting another",
                    process.pid,
                    self.profile.name,
                    process.exitcode,
                )
                self.restarts += 1
                process_gone(process.pid)
                self._stopping.wait(backoff.next_delay())
                if not self._stopping.is_set():
                    self._processes[index] = self._start_one(burst)
            self._stopping.wait(0.5)

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Ask every process to stop after its page in hand; kill those that do not. Calls
        from several threads (a signal's, the owner's) take turns: two joining the same
        process at once could each see the other reap it and call it alive."""
        self._stopping.set()
        with self._stop_lock:
            for process in self._processes:
                if process.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        process.terminate()  # SIGTERM: the robot's stop
            for process in self._processes:
                process.join(timeout)
                if process.is_alive():
                    log.warning(
                        "robot process %s did not stop in %.0f s; killed", process.pid, timeout
                    )
                    process.kill()
                    process.join()
                process_gone(process.pid)
