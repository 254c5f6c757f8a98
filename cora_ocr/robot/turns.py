"""The robot process's loop: one or several profiles' robots (robot/hotfolder.py), each
taking one turn in rotation (a document, or one page of a spread one), so that a process
serving several profiles reads them fairly: a long queue in one profile never keeps another's
documents waiting for more than a turn.

Each robot keeps its own pulse, claims and engine; the loop shares one stop and one wake-up
between them: a document arriving in any profile's input folder wakes the process.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

# An idle process looks for stale claims at least this often, whatever the file-system events
# say: a host that dies sends none (robot/hotfolder.py's module docstring).
LOOK_SECONDS = 2.0


class Robot(Protocol):
    """What the loop asks of each profile's robot (robot/hotfolder.py's Robot)."""

    stop_event: threading.Event
    wake: threading.Event
    finished: int
    idle_seconds: float
    outage: Any

    @property
    def working_on(self) -> Any: ...

    def start(self) -> None: ...
    def start_watching(self) -> None: ...
    def step(self) -> bool: ...
    def finish(self) -> None: ...
    def close(self) -> None: ...


def take_turns(
    robots: list[Robot], stop: threading.Event, wake: threading.Event, burst: bool = False
) -> int:
    """Run `robots` until `stop` is set (burst: until none finds work, or a folder fails).
    Returns the documents they finished."""
    for robot in robots:
        robot.stop_event, robot.wake = stop, wake
        robot.start()
        if not burst:
            robot.start_watching()
    finished = sum(robot.finished for robot in robots)
    first = 0
    try:
        while not stop.is_set():
            wake.clear()
            worked, delays = False, []
            for offset in range(len(robots)):
                robot = robots[(first + offset) % len(robots)]
                try:
                    worked |= robot.step()
                except OSError as error:
                    delays.append(robot.outage.failed(error))
                    continue
                robot.outage.succeeded()
                if stop.is_set():
                    break
            first = (first + 1) % len(robots)
            if delays and len(delays) == len(robots):
                if burst:
                    break
                stop.wait(min(delays))
                continue
            if not worked:
                if burst:
                    break
                wake.wait(min([*(robot.idle_seconds for robot in robots), LOOK_SECONDS]))
    finally:
        for robot in robots:
            robot.finish()
    return sum(robot.finished for robot in robots) - finished


class SharedRobot:
    """One process's robots for several profiles, run in turns: what a pool process of
    `serve` runs for every profile the built-in robot serves (robot/pool.py)."""

    def __init__(self, robots: list[Robot]) -> None:
        self.robots = robots
        self.stop_event = threading.Event()
        self.wake = threading.Event()

    @property
    def working_on(self) -> object:
        """The document one of them is reading (the pool watches it: robot/pool.py)."""
        return next((robot.working_on for robot in self.robots if robot.working_on), None)

    def run(self, burst: bool = False) -> int:
        return take_turns(self.robots, self.stop_event, self.wake, burst)

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def close(self) -> None:
        for robot in self.robots:
            robot.close()
