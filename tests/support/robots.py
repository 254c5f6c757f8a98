"""A simulated OCR robot for pipeline tests: it behaves like a hot-folder robot (reads the
input folder, writes results atomically, removes what it consumed) without an OCR engine;
and rounds of a worker and a robot on a test's clock."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cora_ocr.profiles import Profile, original_name


def result_text(name: str, data: bytes) -> bytes:
    """What the simulated robot "recognises": the caller's file name and the document's bytes."""
    return f"<ocr source='{name}' bytes='{len(data)}'>".encode() + data + b"</ocr>"


class Runs(Protocol):
    def run(self, burst: bool = ...) -> Any: ...


class Moves(Protocol):
    def advance(self, seconds: float) -> None: ...


def work_rounds(
    worker: Runs,
    robot: Runs,
    clock: Moves,
    rounds: int,
    seconds: float = 1.0,
    done: Callable[[], bool] | None = None,
) -> None:
    """Rounds of worker, robot (the built-in one, burst), clock moved `seconds`, worker: what a
    service does over time, with nothing sleeping; stops early once `done()`."""
    for _ in range(rounds):
        worker.run(burst=True)
        robot.run(burst=True)
        clock.advance(seconds)
        worker.run(burst=True)
        if done is not None and done():
            return


def robot_files(profile: Profile) -> list[str]:
    """Everything in a profile's robot folders, hidden files included."""
    folders = (profile.input_dir, profile.output_dir)
    return sorted(path.name for folder in folders for path in folder.iterdir())


class SimulatedRobot:
    """Counts what it processed by robot file name (each job's own)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.seen: Counter[str] = Counter()

    def pending(self) -> list[Path]:
        return sorted(
            path
            for path in self.profile.input_dir.iterdir()
            if path.is_file() and not path.name.startswith(".")
        )

    def _write(self, target: Path, data: bytes) -> None:
        temp = target.with_name(f".{target.name}.robot.part")
        temp.write_bytes(data)
        os.replace(temp, target)

    def process_all(self) -> int:
        done = 0
        for path in self.pending():
            data = path.read_bytes()
            result = result_text(original_name(path.name), data)
            self._write(self.profile.result_path(path.name), result)
            path.unlink()
            self.seen[path.name] += 1
            done += 1
        return done

    def refuse(self, name: str, reason: str) -> None:
        self._write(self.profile.error_path(name), reason.encode())
        self.profile.input_path(name).unlink(missing_ok=True)


class RobotThread(threading.Thread):
    """The simulated robot polling its folder until stopped (for multi-process tests)."""

    def __init__(self, robot: SimulatedRobot, interval: float = 0.01) -> None:
        super().__init__(name="simulated-robot", daemon=True)
        self.robot, self.interval = robot, interval
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.robot.process_all()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)
