"""The claims and pulse protocol of one robot process (docs/reference/hot-folder-protocol.md):
which documents it holds (renamed into its claims folder, `.cora-claims/<owner>/`), its pulse
(that folder's modification time, kept by a keeper thread), the page tasks it claims, and the
documents and pages of stopped processes it takes back, each judged by why its process stopped
(robot/crashes.py). It reads no document: robot/reading.py does, robot/hotfolder.py runs the
loop.

Pulses are judged by the clock that wrote them, the file server's: a process compares
another's pulse with that of its own folder, touched just before, never with its own clock,
so hosts whose clocks differ by minutes still agree on who is alive."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

from cora_ocr.profiles import PAGES, TAKEN, Profile
from cora_ocr.robot import crashes
from cora_ocr.robot.crashes import HOST, PULSE, process_alive, write_atomically

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0  # the keeper pulses at least this often
# How often stale claims are looked for, busy or idle (an idle process wakes for it).
TAKE_BACK_SECONDS = 1.0


def task_name(number: int) -> str:
    return f"{number:05}.task"


class Claims:
    """One process's claims folder in a profile's input folder, and what it takes back."""

    def __init__(
        self, profile: Profile, owner: str, supervisor: int | None = None, lone: bool = False
    ) -> None:
        self.profile, self.owner = profile, owner
        # The pool that supervises this process (its PID), and whether it is a lone re-read
        # (robot/crashes.py): written into its claims folder as it starts.
        self.supervisor, self.lone = supervisor, lone
        self._marked = False
        self._next_take_back = 0.0
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()

    @property
    def folder(self) -> Path:
        """This process's claims folder; its modification time is the process's pulse."""
        return self.profile.claims_dir / self.owner

    def ensure(self) -> None:
        """The claims folder, made and marked (its pool, a lone re-read) if missing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._marked:
            crashes.mark(self.folder, self.supervisor, self.lone)
            self._marked = True

    def tidy(self) -> None:
        """Remove this process's claims folder, and the shared ones, when they are empty: a
        robot that stopped leaves the input folder as it found it."""
        crashes.clear_owner(self.folder)
        self._marked = False
        for folder in (
            self.profile.claims_dir,
            self.profile.input_dir / PAGES,
            self.profile.input_dir / TAKEN,
        ):
            with contextlib.suppress(OSError):
                folder.rmdir()

    def pending(self) -> list[Path]:
        """Documents waiting, oldest first (entries that vanish meanwhile are skipped)."""
        entries = []
        with os.scandir(self.profile.input_dir) as listing:
            for entry in listing:
                with contextlib.suppress(OSError):
                    if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                        entries.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
        return [path for _mtime, _name, path in sorted(entries)]

    def claim_alone(self, name: str) -> Path | None:
        """A document queued to be read alone (robot/crashes.py), claimed by this process."""
        self.ensure()
        target = self.folder / name
        try:
            os.rename(self.profile.alone_path(name), target)
        except FileNotFoundError:
            return None  # another pool's lone reader took it, or its job went away
        return target

    def claim_next(self) -> Path | None:
        """Take the oldest waiting document by renaming it into this process's claims."""
        for path in self.pending():
            target = self.folder / path.name
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another process took it first
            return target
        return None

    def pulse(self) -> None:
        """Stamp this process's claims folder with the file server's time: an entry is
        replaced in it, and whoever keeps the folder (the file server, on a share) sets its
        modification time. Not os.utime(): a time "now" given to it may be taken from this
        host's clock instead (libfaketime does; so might a client that sets it itself)."""
        write_atomically(self.folder / PULSE, b"")

    def server_now(self) -> float:
        """The file server's time now: the modification time of this process's own claims
        folder, pulsed this moment. Every pulse was stamped by that clock; the host's own
        may be minutes off (a VM whose time sync failed)."""
        try:
            self.pulse()
            return self.folder.stat().st_mtime
        except OSError:  # no folder of its own yet: this host's clock is all there is
            return time.time()

    def owner_gone(self, owner: str, now: float) -> bool:
        """Whether a claim's owner has stopped: its process is gone (this machine), or its
        pulse is older than the claim timeout at the file server's time `now` (any
        machine)."""
        if owner == self.owner:
            return False
        host, pid = crashes.owner_process(owner)
        if host == HOST and pid is not None and not process_alive(pid):
            return True
        try:
            pulse = (self.profile.claims_dir / owner).stat().st_mtime
        except FileNotFoundError:
            return True
        return now - pulse > self.profile.claim_timeout_seconds

    def take_back_stale(self, now: bool = False) -> int:
        """Hand the documents and page tasks of stopped processes back (at most every
        TAKE_BACK_SECONDS unless `now`), each judged by why its process stopped
        (robot/crashes.py): pages first, then documents, then the gone process's folder."""
        if not now and time.monotonic() < self._next_take_back:
            return 0
        self._next_take_back = time.monotonic() + TAKE_BACK_SECONDS
        server_now = self.server_now()
        return self._take_back_pages(server_now) + self._take_back_documents(server_now)

    def _gone(self, owner: str, server_now: float) -> tuple[Path, str] | None:
        """A claims folder of a stopped process and why it stopped (its pool's verdict); None
        while it runs, or while its pool has not said yet, or for a lone re-read whose pool
        lives (that pool judges it)."""
        folder = self.profile.claims_dir / owner
        if not self.owner_gone(owner, server_now):
            return None
        if crashes.is_lone(folder) and crashes.pool_alive(folder):
            return None
        cause = crashes.verdict(folder, server_now, self.profile.claim_timeout_seconds)
        return None if cause is None else (folder, cause)

    def _take_back_pages(self, server_now: float) -> int:
        taken = 0
        with contextlib.suppress(FileNotFoundError):
            for work in os.scandir(self.profile.input_dir / PAGES):
                with contextlib.suppress(FileNotFoundError):
                    for entry in os.scandir(work.path):
                        if not entry.name.endswith(".claim"):
                            continue
                        number, holder = entry.name.removesuffix(".claim").split(".", 1)
                        gone = self._gone(holder, server_now)
                        if gone is None:
                            continue
                        with contextlib.suppress(FileNotFoundError):
                            if os.path.exists(Path(work.path) / f"{number}.json"):
                                # Its owner stopped between writing the page and letting go.
                                os.unlink(entry.path)
                                continue
                            taken += self._take_back_page(Path(entry.path), int(number), gone[1])
        return taken

    def _take_back_documents(self, server_now: float) -> int:
        taken = 0
        with contextlib.suppress(FileNotFoundError):
            for owner in os.scandir(self.profile.claims_dir):
                if owner.name == self.owner:
                    continue
                gone = self._gone(owner.name, server_now)
                if gone is None:
                    continue
                folder, cause = gone
                lone = crashes.is_lone(folder)
                for entry in os.scandir(owner.path):
                    if entry.name.startswith("."):  # its pulse and markers, or one half written
                        continue
                    if os.path.lexists(self.profile.input_path(entry.name)):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        taken += self._take_back(Path(entry.path), owner.name, cause, lone)
                crashes.clear_owner(folder)
        return taken

    def _take_back(self, claim: Path, owner: str, cause: str, lone: bool = False) -> int:
        """A stopped process's document, first renamed into this process's claims so that
        one process alone decides: back into input_dir; where its process crashed for the
        second time, read once more alone; where it was a lone re-read whose pool is gone
        too, back in the lone queue."""
        mine = self.folder / claim.name
        self.folder.mkdir(parents=True, exist_ok=True)
        os.rename(claim, mine)
        if lone:
            self.profile.alone_dir.mkdir(parents=True, exist_ok=True)
            os.rename(mine, self.profile.alone_path(claim.name))
            return 0
        if cause and crashes.count(self.profile.taken_back_path(claim.name)) >= crashes.MAX_CRASHES:
            crashes.read_alone(self.profile, mine, cause)
            return 0
        back = self.profile.input_path(claim.name)
        os.rename(mine, back)
        os.utime(back)  # its wait starts again; the oldest still go first
        if cause:
            log.warning(
                "took back %s from robot process %s, which died while reading it (%s)",
                claim.name,
                owner,
                cause,
            )
        else:
            log.info(
                "took back %s from robot process %s, which stopped with its pool or host "
                "(no fault of the document)",
                claim.name,
                owner,
            )
        return 1

    def _take_back_page(self, claim: Path, number: int, cause: str) -> int:
        """A stopped process's page task: a task again; where its process crashed for the
        second time, the document is to be read alone (its owner sees `<n>.alone`)."""
        work = claim.parent
        mine = work / f"{number:05}.{self.owner}.claim"
        os.rename(claim, mine)
        if cause and crashes.count(work / f"{number:05}.taken") >= crashes.MAX_CRASHES:
            write_atomically(work / f"{number:05}.alone", cause.encode())
            mine.unlink()
            return 0
        os.rename(mine, work / task_name(number))
        return 1

    def claim_task(self, work: Path) -> tuple[int, Path] | None:
        try:
            names = sorted(name for name in os.listdir(work) if name.endswith(".task"))
        except FileNotFoundError:
            return None
        for name in names:
            number = int(name.removesuffix(".task"))
            claim = work / f"{number:05}.{self.owner}.claim"
            try:
                os.rename(work / name, claim)
            except FileNotFoundError:
                continue
            return number, claim
        return None

    def start_keeper(self) -> None:
        interval = min(HEARTBEAT_SECONDS, self.profile.claim_timeout_seconds / 4)

        halt = self._keeper_stop = threading.Event()

        def keep() -> None:
            while not halt.wait(interval):
                with contextlib.suppress(OSError):
                    self.pulse()

        self._keeper = threading.Thread(target=keep, name="robot-keeper", daemon=True)
        self._keeper.start()

    def stop_keeper(self) -> None:
        if self._keeper is not None:
            self._keeper_stop.set()
            self._keeper.join()
            self._keeper = None
