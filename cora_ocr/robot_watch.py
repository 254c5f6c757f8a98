"""Whether a robot reads each profile's hot folders, as the folders themselves tell it: what
GET /readyz, the jobs page, `cora-ocr jobs list` and /metrics say of a profile whose jobs
wait for a robot that is not there.

A built-in robot process keeps its claims folder's pulse fresh every few seconds, even deep
in a long document, and writes the profile's heartbeat between documents
(robot/hotfolder.py); any robot, built-in or external, takes documents out of the input
folder. So a profile is **silent** when a document has waited in its input folder longer
than its `claim_timeout_seconds` and no built-in robot has pulsed within that time: nothing is
reading it (an `engine = "external"` profile whose robot is stopped; a built-in one whose
`cora-ocr robot` is not running beside `web`). Nothing waiting, nothing silent."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from cora_ocr.profiles import Profile
from cora_ocr.statuses import JobState

# A job in these states waits for its profile's robot.
WAITING_STATES = (JobState.PROCESSING_INPUT.value, JobState.WAITING_FOR_OUTPUT.value)

# A built-in robot last seen longer ago than this has stopped (not ready), jobs waiting or not.
ROBOT_SEEN_SECONDS = 30.0


@dataclass(frozen=True)
class RobotWatch:
    """What the folders say of a profile's robot now."""

    state: str  # seen | stale | silent | unknown (no built-in robot seen, nothing waiting)
    waiting: int  # documents waiting in the input folder
    since_seen: float | None  # seconds since a built-in robot last pulsed

    @property
    def silent(self) -> bool:
        return self.state == "silent"

    def document(self) -> dict[str, object]:
        """As GET /readyz shows it."""
        shown: dict[str, object] = {"state": self.state}
        if self.since_seen is not None:
            shown["secondsSinceSeen"] = round(self.since_seen, 1)
        if self.state == "silent":
            shown["waiting"] = self.waiting
        return shown


def watch(profile: Profile, now: float | None = None) -> RobotWatch:
    now = time.time() if now is None else now
    seen = _last_seen(profile)
    since = None if seen is None else max(0.0, now - seen)
    waiting, oldest = _waiting(profile)
    timeout = profile.claim_timeout_seconds
    if oldest is not None and now - oldest > timeout and (since is None or since > timeout):
        return RobotWatch("silent", waiting, since)
    if since is None:
        return RobotWatch("unknown", waiting, None)
    return RobotWatch("seen" if since <= ROBOT_SEEN_SECONDS else "stale", waiting, since)


def _last_seen(profile: Profile) -> float | None:
    """The newest pulse of a built-in robot process in the profile's claims folder, or its
    heartbeat beside the output folder."""
    times = []
    with contextlib.suppress(OSError), os.scandir(profile.claims_dir) as owners:
        for owner in owners:
            with contextlib.suppress(OSError):
                times.append(owner.stat().st_mtime)
    with contextlib.suppress(OSError):
        times.append(profile.heartbeat_path().stat().st_mtime)
    return max(times) if times else None


def _waiting(profile: Profile) -> tuple[int, float | None]:
    """Documents waiting in the input folder (hidden names are not documents) and the
    modification time of the oldest."""
    count, oldest = 0, None
    with contextlib.suppress(OSError), os.scandir(profile.input_dir) as entries:
        for entry in entries:
            try:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                mtime = entry.stat().st_mtime
            except OSError:
                continue
            count += 1
            oldest = mtime if oldest is None else min(oldest, mtime)
    return count, oldest


def silent_profiles(profiles: list[Profile]) -> frozenset[str]:
    """The names of the profiles no robot reads now."""
    now = time.time()
    return frozenset(profile.name for profile in profiles if watch(profile, now).silent)


def waits_on_silence(job: Any, silent: frozenset[str]) -> bool:
    """A job (a JobRecord) waiting for a robot that is not there: "no robot"."""
    return bool(job.ocr_profile in silent and job.state in WAITING_STATES)
