"""The robot loop: documents in, results out, through the profile's hot folders. Its parts:
robot/claims.py (claims, pulses, take-backs), robot/reading.py (the engine's reading of one
document), robot/spread.py (pages spread across processes), robot/turns.py (the loop over one
or several profiles), robot/crashes.py (take-backs judged by their cause).

Protocol (docs/reference/hot-folder-protocol.md): a document `name.ext` in input_dir becomes
`<stem><result_extension>` in output_dir, or `<stem>.error` with the reason; while working the
robot keeps `.<stem>.progress` ("done total") up to date. Files are written under a hidden
name and renamed, so a reader never sees half a file. Documents are named for their job
(`<job id>-<token>-<FileName>`); results name the caller's FileName as their source.

Several robot processes share a profile's folders (robot/pool.py), on one machine or more:

- **Claims.** A process takes a document by renaming it into its own claims folder,
  `.cora-claims/<owner>/` in input_dir, so two never take the same one. The owner folder's
  modification time is the owner's pulse: a keeper thread replaces a `.pulse` file in it
  every few seconds, so that the file server stamps it with its own time. A
  claim whose owner has no pulse for `claim_timeout_seconds` (or, on this machine, whose
  process is gone) is renamed back into input_dir by any other process, and is done again.
  Pulses are judged by the clock that wrote them, the file server's: a process compares
  another's pulse with that of its own folder, touched just before, never with its own
  clock, so hosts whose clocks differ by minutes still agree on who is alive.
- **Pages.** The owner of a document of several pages writes one task per page into
  `.cora-pages/<name>/`; the owner, and every process that finds no document waiting, claims
  tasks by renaming `<n>.task` to `<n>.<owner>.claim`, renders that page alone, recognises it
  and writes `<n>.json`. The owner assembles the pages in order. Results of a document taken
  back are kept and not recognised again.
- **No polling delay.** File-system events on input_dir (inotify, through watchdog) wake an
  idle process at once; where events are unavailable it looks every `idle_seconds`. Whatever
  the events say, an idle process looks for stale claims every LOOK_SECONDS: a host that dies
  sends no event, and its documents are taken back within the claim timeout and a few
  seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cora_ocr.metrics import Metrics
from cora_ocr.outages import Backoff, Outage
from cora_ocr.profiles import ENGINE_FAILED, PAGES, Profile
from cora_ocr.robot import crashes
from cora_ocr.robot.claims import HEARTBEAT_SECONDS, Claims
from cora_ocr.robot.crashes import HOST, write_atomically
from cora_ocr.robot.documents import UnsupportedDocument
from cora_ocr.robot.engine import EngineUnavailable, PageResult, TesseractEngine
from cora_ocr.robot.quality import confidence
from cora_ocr.robot.reading import Reader
from cora_ocr.robot.spread import Aborted, PageTasks, ReadAlone, page_from_json, page_to_json
from cora_ocr.robot.turns import take_turns

__all__ = ["Aborted", "ReadAlone", "Robot", "page_from_json", "page_to_json"]

log = logging.getLogger(__name__)


def default_engine(profile: Profile) -> TesseractEngine:
    return TesseractEngine(
        profile.languages, profile.tessdata_dir, profile.rotate_pages, profile.deskew
    )


class Robot:
    """One robot process's loop for one profile: its claims (robot/claims.py), its reader
    (robot/reading.py) and its part in spread documents (robot/spread.py), run in turns
    (robot/turns.py); what a document's reading ends in is published here."""

    def __init__(
        self,
        profile: Profile,
        engine_factory: Callable[[Profile], TesseractEngine] | None = None,
        idle_seconds: float = 0.5,
        events: bool = True,
        metrics: Metrics | None = None,
        supervisor: int | None = None,
        lone: bool = False,
    ) -> None:
        self.profile = profile
        self.metrics = metrics or Metrics()
        self.owner = f"{HOST}-{os.getpid()}-{secrets.token_hex(3)}"
        self.shares = Claims(profile, self.owner, supervisor, lone)
        self.unavailable: str | None = None
        self.engine: TesseractEngine | None = None
        try:
            self.engine = (engine_factory or default_engine)(profile)
        except EngineUnavailable as exc:
            # Refuse each document with the reason (the job records it), rather than die.
            self.unavailable = f"profile {profile.name} cannot be recognised here: {exc}"
            log.error("%s; its documents are refused with this reason", self.unavailable)
        self.idle_seconds = idle_seconds
        self.events = events
        self._last_beat = -HEARTBEAT_SECONDS
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.finished = 0  # documents this process finished
        self.reader = Reader(profile, self.engine, self.metrics)
        self.tasks = PageTasks(
            profile, self.shares, self.reader, lambda: self.wake, lambda: bool(self._observer)
        )
        self.reader.spread = self.tasks.spread
        # The document this process reads (robot/pool.py stops a process at once when it is
        # taken away mid-page): its own, or one whose page it reads for another.
        self._reading: Path | None = None
        self.outage = Outage(f"robot folders of profile {profile.name}", log, Backoff(cap=10.0))
        self._observer: Any = None

    # --- its parts, as callers and tests reach them ----------------------------------------
    @property
    def claims(self) -> Path:
        """This process's claims folder; its modification time is the process's pulse."""
        return self.shares.folder

    @property
    def working_on(self) -> Path | None:
        return self._reading or self.tasks.working_on

    @property
    def pages_done(self) -> int:
        return self.reader.pages_done

    def pending(self) -> list[Path]:
        return self.shares.pending()

    def claim_next(self) -> Path | None:
        return self.shares.claim_next()

    def claim_alone(self, name: str) -> Path | None:
        self.ensure_folders()
        return self.shares.claim_alone(name)

    def take_back_stale(self, now: bool = False) -> int:
        return self.shares.take_back_stale(now)

    def server_now(self) -> float:
        return self.shares.server_now()

    def help_once(self) -> bool:
        return self.tasks.help_once()

    def beat(self) -> None:
        """The heartbeat (GET /readyz), at most every HEARTBEAT_SECONDS; written between
        documents, so a recognition longer than the readiness window shows as stale."""
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        write_atomically(self.profile.heartbeat_path(), f"{HOST} {os.getpid()}\n".encode())

    def ensure_folders(self) -> None:
        """Recreate a missing hot folder; OSError if that cannot be done (a file in the way,
        a share not mounted)."""
        for folder in (self.profile.input_dir, self.profile.output_dir):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                log.warning("recreated the missing robot folder %s", folder)
        self.shares.ensure()

    def run(self, burst: bool = False) -> int:
        """Process documents until stopped (burst: until nothing is left to do). Returns the
        documents this process finished (robot/turns.py runs the loop, for one profile here
        as for several in a shared pool).

        A hot folder that is missing is recreated; one that cannot be, or a write that
        fails, is weather: one WARNING, then the loop waits and tries again (burst: returns).
        """
        return take_turns([self], self.stop_event, self.wake, burst)

    def step(self) -> bool:
        """One turn of the loop: the heartbeat, stale claims taken back, then one waiting
        document, or one page task of a document spread across processes when none waits.
        Whether it did any work; OSError where the folders fail."""
        self.ensure_folders()
        self.beat()
        self.take_back_stale()
        # Waiting documents first, pages of others' documents when there are none: a full
        # queue keeps every process on documents of its own (no one waits for a helper),
        # and idle processes shorten a long document.
        claimed = self.claim_next()
        if claimed is not None:
            self.finished += self.process(claimed)
            return True
        return self.help_once()

    def start(self) -> None:
        """The pulse keeper, before the loop (the events: start_watching)."""
        self.shares.start_keeper()

    def finish(self) -> None:
        """After the loop: events and pulse stopped, the folders left as they were found."""
        self._stop_watching()
        self.shares.stop_keeper()
        self.shares.tidy()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.shares.tidy()

    def start_watching(self) -> None:
        if not self.events:
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            robot = self

            class Wake(FileSystemEventHandler):
                """Wakes on what adds work: a name created or moved in, a file written and
                closed. Not on opening or reading a folder, which the loop itself does."""

                def on_created(self, event: Any) -> None:
                    robot.wake.set()

                def on_moved(self, event: Any) -> None:
                    robot.wake.set()

                def on_closed(self, event: Any) -> None:
                    robot.wake.set()

            # New documents land in the input folder itself, page tasks in .cora-pages/<name>/;
            # the claims folders need no watching.
            pages = self.profile.input_dir / PAGES
            pages.mkdir(exist_ok=True)
            observer = Observer()
            observer.schedule(Wake(), str(self.profile.input_dir), recursive=False)
            observer.schedule(Wake(), str(pages), recursive=True)
            observer.start()
            self._observer = observer
        except Exception as exc:  # no inotify (limits, a network share): polling it is
            log.info("no file-system events for %s (%s); polling", self.profile.input_dir, exc)
            self._observer = None

    def _stop_watching(self) -> None:
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.stop()
                self._observer.join(5)
            self._observer = None

    def process(self, path: Path) -> bool:
        """One claimed document; True if a result was written. Never raises for a bad
        document. The claim is let go of whatever happens."""
        self._reading = path
        try:
            return self._process(path)
        finally:
            self._reading = None

    def _process(self, path: Path) -> bool:
        started = time.perf_counter()
        try:
            if self.unavailable is not None:
                self._refuse(path, self.unavailable)
                return False
            pages, results, count = self.reader.results(path)
        except Aborted:
            return self._dropped(path)
        except ReadAlone as exc:
            crashes.read_alone(self.profile, path, str(exc))
            return False
        except UnsupportedDocument as exc:
            self._refuse(path, str(exc))
            return False
        except Exception as exc:  # the engine failed on this document; keep serving others
            log.exception("OCR of %s failed", path.name)
            self._refuse(path, f"{ENGINE_FAILED}: {type(exc).__name__}: {exc}")
            return False
        if not path.exists():  # the job was aborted meanwhile: publish nothing
            return self._dropped(path)
        publish(self.profile, path, pages, results)
        path.unlink(missing_ok=True)
        self._forget(path)
        log.info(
            "recognised %s: %d pages in %.2f s",
            path.name,
            count,
            time.perf_counter() - started,
            extra={"pages": count},
        )
        return True

    def _dropped(self, path: Path) -> bool:
        self.profile.progress_path(path.name).unlink(missing_ok=True)
        self._forget(path)
        return False

    def _forget(self, path: Path) -> None:
        """What the robot kept about a document while it was read: its pages, its count."""
        crashes.forget(self.profile, path.name)

    def _refuse(self, path: Path, reason: str) -> None:
        crashes.refuse(self.profile, path, reason)


def publish(
    profile: Profile, path: Path, pages: list[PageResult] | None, results: dict[str, bytes]
) -> None:
    """A document's answers, the result last (it says the document is done): its word
    confidences and barcode count, then each other output, then the first."""
    summary = None if pages is None else confidence(pages)
    if summary is not None:
        write_atomically(profile.confidence_path(path.name), json.dumps(summary).encode())
    if pages is not None and profile.barcodes:
        found = sum(len(page.barcodes) for page in pages)
        write_atomically(profile.barcodes_path(path.name), str(found).encode())
    for form, target in profile.extra_result_paths(path.name).items():
        write_atomically(target, results[form])
    write_atomically(profile.result_path(path.name), results[profile.output_format])
