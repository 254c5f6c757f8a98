"""Take-backs judged by their cause: a document is a poison pill only when reading it killed
robot processes whose pool lived on, never because the process tree or the host went down
around it (a restart, a deploy, `kill -9` of `serve`, a power cut).

The protocol (beside robot/hotfolder.py's claims and pulses), in a process's claims folder:

- `.pool`: the PID of the pool that supervises the process (robot/pool.py), written as the
  process starts. A process found gone while its pool lives on this host is waited for: the
  pool's verdict comes within a second.
- `.crashed`: the pool saw the process die while the pool lived (a signal, or an exit code:
  `robot_memory_mb` reached, the engine crashed) and says how. Only such a take-back counts
  against the document (`.cora-taken/<name>`, or `<n>.taken` for a page).
- `.alone`: the process is a lone re-read (below); its documents are its pool's to judge.

A document whose reading killed MAX_CRASHES processes is not refused at once: it is read once
more alone, in a fresh process under the memory limit, with no page spread to others
(`.cora-alone/<name>` in the input folder is the queue every pool takes these from). Only when
that read crashes too is the document refused, with the cause in its history.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cora_ocr.profiles import ENGINE_FAILED, Profile

log = logging.getLogger(__name__)
HOST = socket.gethostname()
PULSE = ".pulse"  # replaced in a process's claims folder at every pulse
POOL_FILE = ".pool"
CRASHED = ".crashed"
LONE = ".alone"
MARKERS = (PULSE, POOL_FILE, CRASHED, LONE)
# Deaths of robot processes (whose pool lived) while reading one document, or one page of
# it, before it is read once more alone.
MAX_CRASHES = 2


def write_atomically(target: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".robot", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this host runs. A zombie does not: a robot process whose pool
    was killed with it is reparented, and where nothing reaps it (a container whose first
    process is not an init) it stays a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal's answer stands
    return state not in ("Z", "X")


def owner_process(owner: str) -> tuple[str, int | None]:
    """(host, pid) of a claims folder's name, `<host>-<pid>-<token>`."""
    host, _, rest = owner.rpartition("-")[0].rpartition("-")
    return host, int(rest) if rest.isdigit() else None


def mark(claims: Path, supervisor: int | None, lone: bool = False) -> None:
    """A process's claims folder says which pool supervises it, and if it reads alone."""
    if supervisor is not None:
        write_atomically(claims / POOL_FILE, str(supervisor).encode())
    if lone:
        write_atomically(claims / LONE, b"")


def cause_of(exitcode: int | None, memory_mb: int) -> str:
    """How a robot process died, as its pool saw it."""
    how = f"exited with code {exitcode}"
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            how = f"killed by signal {signal.Signals(-exitcode).name}"
    return how + (f" under robot_memory_mb = {memory_mb}" if memory_mb else "")


def record_crash(profiles: Iterable[Profile], pid: int, cause: str) -> None:
    """The pool saw its process `pid` die: its claims folders (one per profile) say how, so
    that what it held counts against the documents."""
    prefix = f"{HOST}-{pid}-"
    for profile in profiles:
        with contextlib.suppress(OSError), os.scandir(profile.claims_dir) as owners:
            for owner in owners:
                if owner.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        write_atomically(Path(owner.path) / CRASHED, cause.encode())


def verdict(owner: Path, now: float, claim_timeout: float) -> str | None:
    """Why a gone process's claims are taken back: its pool's word that it crashed (the
    cause), "" where it stopped with its pool or host (no fault of what it held), or None
    while its pool, alive on this host, has not said yet."""
    try:
        return (owner / CRASHED).read_text("utf-8", "replace") or "crashed"
    except OSError:
        pass
    if pool_alive(owner):
        with contextlib.suppress(OSError):
            if now - owner.stat().st_mtime < claim_timeout:
                return None
    return ""


def pool_alive(owner: Path) -> bool:
    """Whether the pool that supervised a claims folder's process still runs (this host)."""
    host, _pid = owner_process(owner.name)
    try:
        pool = int((owner / POOL_FILE).read_text("ascii").strip())
    except (OSError, ValueError):
        return False
    return host == HOST and process_alive(pool)


def is_lone(owner: Path) -> bool:
    return (owner / LONE).exists()


def count(path: Path) -> int:
    """Add one to the count kept in `path` (made with its folder if missing); the new count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        counted = int(path.read_text("ascii").strip() or 0) + 1
    except (FileNotFoundError, ValueError):
        counted = 1
    write_atomically(path, str(counted).encode())
    return counted


def clear_owner(owner: Path) -> None:
    """A gone process's claims folder, once nothing it held is left in it."""
    for name in MARKERS:
        with contextlib.suppress(OSError):
            (owner / name).unlink()
    with contextlib.suppress(OSError):
        owner.rmdir()


def note(profile: Profile, name: str, lines: list[str]) -> None:
    """Lines for the job's history (the worker reads the notes file with the result)."""
    if lines:
        with profile.notes_path(name).open("a", encoding="utf-8") as handle:
            # One short append of whole lines: never mixed with another process's.
            handle.write("".join(f"{line}\n" for line in lines))


def read_alone(profile: Profile, path: Path, cause: str) -> None:
    """Queue a document whose reading killed MAX_CRASHES processes for a lone re-read."""
    name = path.name
    profile.alone_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(profile.pages_dir(name), ignore_errors=True)
    note(
        profile,
        name,
        [
            f"robot processes died twice while reading this document (the last {cause}); "
            "it is read once more, alone"
        ],
    )
    os.rename(path, profile.alone_path(name))
    log.warning("%s killed two robot processes (%s); it is read once more, alone", name, cause)


def forget(profile: Profile, name: str) -> None:
    """What the robots kept about a document while it was read: its pages, its counts."""
    shutil.rmtree(profile.pages_dir(name), ignore_errors=True)
    profile.taken_back_path(name).unlink(missing_ok=True)


def refuse(profile: Profile, path: Path, reason: str) -> None:
    """The robot's refusal of a document: `<stem>.error` with the reason; the document and
    what was kept of it go."""
    log.warning("refused %s: %s", path.name, reason)
    if path.exists():
        write_atomically(profile.error_path(path.name), reason.encode("utf-8"))
        path.unlink(missing_ok=True)
    profile.progress_path(path.name).unlink(missing_ok=True)
    forget(profile, path.name)


def refuse_after_lone_read(profile: Profile, name: str, cause: str) -> None:
    """The lone re-read died too: the document is refused, with the cause (robot/pool.py)."""
    reason = (
        f"{ENGINE_FAILED}: robot processes died twice while reading this document, and once "
        f"more reading it alone ({cause}): it is not handed on again. A page too big for the "
        "robot's memory (robot_memory_mb) or one that crashes the engine does this"
    )
    for path in profile.claimed(name):
        refuse(profile, path, reason)
        clear_owner(path.parent)
