"""Waiting in tests: always with a deadline, so that a hang fails the test and says what it
waited for, instead of holding up the run until CI's own limit."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    """Return once `condition()` is true; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def read_line(stream: IO[str], timeout: float = 30, what: str = "a line") -> str:
    """The next line of a child's unread pipe (nothing of it buffered yet), within `timeout`."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"not within {timeout} s: {what}"
    return stream.readline()


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies left out)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def stop_group(process: subprocess.Popen[Any], timeout: float = 60) -> int:
    """SIGTERM to a command started with `start_new_session=True`; its exit code. Fails if it
    does not stop within `timeout`, or if any process it started outlives it by more than a
    few seconds (those are killed first: a test leaves nothing running)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"{process.args!r} did not stop within {timeout} s") from None
    try:
        wait_until(
            lambda: not group_members(process.pid),
            10,
            f"the processes {process.args!r} started stop (its exit code: {process.returncode})",
        )
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    return process.returncode
