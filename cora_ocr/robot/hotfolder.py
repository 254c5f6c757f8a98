"""The robot loop: documents in, results out, through the profile's hot folders.

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
import dataclasses
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from cora_ocr.metrics import Metrics
from cora_ocr.outages import Backoff, Outage
from cora_ocr.profiles import ENGINE_FAILED, PAGES, TAKEN, Profile, original_name
from cora_ocr.robot import crashes
from cora_ocr.robot.crashes import HOST, PULSE, process_alive, write_atomically
from cora_ocr.robot.documents import Document, UnsupportedDocument, open_document
from cora_ocr.robot.engine import (
    Block,
    EngineUnavailable,
    Line,
    PageResult,
    TesseractEngine,
    Word,
)
from cora_ocr.robot.layers import assemble
from cora_ocr.robot.quality import confidence
from cora_ocr.robot.render import RENDERERS
from cora_ocr.robot.turns import take_turns

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
# How often stale claims are looked for, busy or idle (an idle process wakes for it).
TAKE_BACK_SECONDS = 1.0


def default_engine(profile: Profile) -> TesseractEngine:
    return TesseractEngine(
        profile.languages, profile.tessdata_dir, profile.rotate_pages, profile.deskew
    )


class Aborted(Exception):
    """The document was taken away (its job aborted) while being recognised."""


def page_to_json(page: PageResult) -> bytes:
    return json.dumps(dataclasses.asdict(page)).encode()


def page_from_json(data: bytes) -> PageResult:
    raw = json.loads(data)
    blocks = [
        Block(
            tuple(block["box"]),
            [
                Line(
                    tuple(line["box"]),
                    [
                        Word(word["text"], tuple(word["box"]), word["confidence"])
                        for word in line["words"]
                    ],
                )
                for line in block["lines"]
            ],
        )
        for block in raw["blocks"]
    ]
    return PageResult(
        raw["number"],
        raw["width"],
        raw["height"],
        raw["text"],
        blocks,
        raw["hocr"],
        raw.get("straightened", 0.0),
        raw.get("from_layer", False),
    )


def _task_name(number: int) -> str:
    return f"{number:05}.task"


class ReadAlone(Exception):
    """A page of the document killed two robot processes: the document is read once more,
    alone (robot/crashes.py)."""


class Robot:
    """One robot process's loop (module docstring)."""

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
        # The pool that supervises this process (its PID), and whether it is a lone re-read
        # (robot/crashes.py): written into its claims folder as it starts.
        self.supervisor, self.lone = supervisor, lone
        self._marked = False
        self.metrics = metrics or Metrics()
        self.owner = f"{HOST}-{os.getpid()}-{secrets.token_hex(3)}"
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
        self._next_take_back = 0.0
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.pages_done = 0
        self.finished = 0  # documents this process finished
        # The document being read (claimed by this process or, for a page task, another):
        # a pool process stops at once when it is taken away mid-page (robot/pool.py).
        self.working_on: Path | None = None
        self.outage = Outage(f"robot folders of profile {profile.name}", log, Backoff(cap=10.0))
        self._observer: Any = None
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()

    @property
    def claims(self) -> Path:
        """This process's claims folder; its modification time is the process's pulse."""
        return self.profile.claims_dir / self.owner

    # --- the loop -----------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Documents waiting, oldest first (entries that vanish meanwhile are skipped)."""
        entries = []
        with os.scandir(self.profile.input_dir) as listing:
            for entry in listing:
                with contextlib.suppress(OSError):
                    if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                        entries.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
        return [path for _mtime, _name, path in sorted(entries)]

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
        self.claims.mkdir(parents=True, exist_ok=True)
        if not self._marked:
            crashes.mark(self.claims, self.supervisor, self.lone)
            self._marked = True

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
        """The pulse keeper and, unless `burst`, the file-system events: before the loop."""
        self._start_keeper()

    def finish(self) -> None:
        """After the loop: events and pulse stopped, the folders left as they were found."""
        self._stop_watching()
        self._stop_keeper()
        self._tidy()

    def _tidy(self) -> None:
        """Remove this process's claims folder, and the shared ones, when they are empty: a
        robot that stopped leaves the input folder as it found it."""
        crashes.clear_owner(self.claims)
        self._marked = False
        for folder in (
            self.profile.claims_dir,
            self.profile.input_dir / PAGES,
            self.profile.input_dir / TAKEN,
        ):
            with contextlib.suppress(OSError):
                folder.rmdir()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self._tidy()

    # --- the pulse and the events ---------------------------------------------------------
    def _start_keeper(self) -> None:
        interval = min(HEARTBEAT_SECONDS, self.profile.claim_timeout_seconds / 4)

        halt = self._keeper_stop = threading.Event()

        def keep() -> None:
            while not halt.wait(interval):
                with contextlib.suppress(OSError):
                    self._pulse()

        self._keeper = threading.Thread(target=keep, name="robot-keeper", daemon=True)
        self._keeper.start()

    def _stop_keeper(self) -> None:
        if self._keeper is not None:
            self._keeper_stop.set()
            self._keeper.join()
            self._keeper = None

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

    # --- claims ---------------------------------------------------------------------------
    def claim_alone(self, name: str) -> Path | None:
        """A document queued to be read alone (robot/crashes.py), claimed by this process."""
        self.ensure_folders()
        target = self.claims / name
        try:
            os.rename(self.profile.alone_path(name), target)
        except FileNotFoundError:
            return None  # another pool's lone reader took it, or its job went away
        return target

    def claim_next(self) -> Path | None:
        """Take the oldest waiting document by renaming it into this process's claims."""
        for path in self.pending():
            target = self.claims / path.name
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another process took it first
            return target
        return None

    def _pulse(self) -> None:
        """Stamp this process's claims folder with the file server's time: an entry is
        replaced in it, and whoever keeps the folder (the file server, on a share) sets its
        modification time. Not os.utime(): a time "now" given to it may be taken from this
        host's clock instead (libfaketime does; so might a client that sets it itself)."""
        write_atomically(self.claims / PULSE, b"")

    def server_now(self) -> float:
        """The file server's time now: the modification time of this process's own claims
        folder, pulsed this moment. Every pulse was stamped by that clock; the host's own
        may be minutes off (a VM whose time sync failed)."""
        try:
            self._pulse()
            return self.claims.stat().st_mtime
        except OSError:  # no folder of its own yet: this host's clock is all there is
            return time.time()

    def _owner_gone(self, owner: str, now: float) -> bool:
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
        if not self._owner_gone(owner, server_now):
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
        mine = self.claims / claim.name
        self.claims.mkdir(parents=True, exist_ok=True)
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
        os.rename(mine, work / _task_name(number))
        return 1

    # --- pages of documents spread across processes ----------------------------------------
    def _claim_task(self, work: Path) -> tuple[int, Path] | None:
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

    def help_once(self) -> bool:
        """Recognise one page task of a document another process (or this one) spread."""
        try:
            works = sorted(os.scandir(self.profile.input_dir / PAGES), key=lambda e: e.name)
        except FileNotFoundError:
            return False
        for work in works:
            task = self._claim_task(Path(work.path))
            if task is None:
                continue
            number, claim = task
            documents = self.profile.claimed(work.name)
            try:
                if not documents:
                    raise Aborted
                self.working_on = documents[0]
                with self._open(documents[0]) as document:
                    self._recognise_task(document, Path(work.path), number)
            except (Aborted, FileNotFoundError):
                pass  # the document went away: its task goes with it
            except Exception as exc:
                log.exception("OCR of page %d of %s failed", number, work.name)
                with contextlib.suppress(OSError):
                    write_atomically(
                        Path(work.path) / f"{number:05}.failed",
                        f"page {number}: {type(exc).__name__}: {exc}".encode(),
                    )
            finally:
                self.working_on = None
                claim.unlink(missing_ok=True)
            return True
        return False

    def _page(self, document: Document, name: str, number: int) -> Image.Image:
        """Page `number` of the document `name`; what was done to fit it into the page budget
        is added to the document's notes file (the job's history), by whichever process
        read the page."""
        known = len(document.notes)
        image = document.page(number)
        self._note(name, document.notes[known:])
        return image

    def _read(self, document: Document, name: str, number: int) -> PageResult:
        """Page `number` from the PDF's text layer (skip_text), or read by the engine; a page
        it straightened first is noted."""
        known = len(document.notes)
        layer = document.layer(number, self.profile.skip_text)
        # A page budget's lower dpi; a layer not trusted, or cleaned.
        self._note(name, document.notes[known:])
        if layer is not None:
            return layer
        assert self.engine is not None
        want_hocr = "hocr" in self.profile.outputs
        page = self.engine.recognize(self._page(document, name, number), number, want_hocr)
        if page.straightened:
            self._note(name, [f"page {number} straightened by {page.straightened:+.1f} degrees"])
        return page

    def _note(self, name: str, notes: list[str]) -> None:
        crashes.note(self.profile, name, notes)

    def _recognise_task(self, document: Document, work: Path, number: int) -> None:
        page = self._read(document, work.name, number)
        self._page_done()
        write_atomically(work / f"{number:05}.json", page_to_json(page))
        log.debug("page %d of %s recognised by %s", number, work.name, self.owner)

    def _spread(self, path: Path, document: Document) -> list[PageResult]:
        """The document's pages recognised by every process, assembled in order."""
        work = self.profile.pages_dir(path.name)
        work.mkdir(parents=True, exist_ok=True)
        total = document.page_count
        present = set(os.listdir(work))
        for number in range(1, total + 1):
            if f"{number:05}.json" in present or any(
                name.startswith(f"{number:05}.") and name.endswith(".claim") for name in present
            ):
                continue  # done before this document was taken back, or in hand
            with contextlib.suppress(FileExistsError):
                (work / _task_name(number)).open("x").close()
        progress = self.profile.progress_path(path.name)
        reported = -1
        while True:
            if not path.exists():
                raise Aborted
            task = self._claim_task(work)
            if task is not None:
                number, claim = task
                try:
                    self._recognise_task(document, work, number)
                finally:
                    claim.unlink(missing_ok=True)
            names = set(os.listdir(work))
            alone = sorted(name for name in names if name.endswith(".alone"))
            if alone:
                raise ReadAlone((work / alone[0]).read_text("utf-8", "replace"))
            failed = sorted(name for name in names if name.endswith(".failed"))
            if failed:
                raise RuntimeError((work / failed[0]).read_text("utf-8", "replace"))
            done = sum(f"{n:05}.json" in names for n in range(1, total + 1))
            if done != reported:
                write_atomically(progress, f"{done} {total}".encode())
                reported = done
            if done == total:
                break
            if task is None:  # the rest are in other processes' hands: wait for them
                self.take_back_stale()
                self.wake.wait(0.05 if self._observer is None else 0.5)
                self.wake.clear()
        return [page_from_json((work / f"{n:05}.json").read_bytes()) for n in range(1, total + 1)]

    # --- one document ---------------------------------------------------------------------
    def process(self, path: Path) -> bool:
        """One claimed document; True if a result was written. Never raises for a bad
        document. The claim is let go of whatever happens."""
        self.working_on = path
        try:
            return self._process(path)
        finally:
            self.working_on = None

    def _process(self, path: Path) -> bool:
        started = time.perf_counter()
        try:
            if self.unavailable is not None:
                self._refuse(path, self.unavailable)
                return False
            pages, results, count = self._results(path)
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
        self._publish(path, pages, results)
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

    def _results(self, path: Path) -> tuple[list[PageResult] | None, dict[str, bytes], int]:
        """Every output of the profile from one reading of the document: its pages (None
        when the only output is a PDF, which Tesseract's renderer reads on its own), each
        format's bytes, and how many pages."""
        outputs, results = self.profile.outputs, {}
        pages, count = None, 0
        if any(form != "pdf" for form in outputs):
            pages = self._recognize(path)
            self._note_layers(path.name, sum(page.from_layer for page in pages), len(pages))
            source, count = original_name(path.name), len(pages)
            for form in outputs:
                if form != "pdf":
                    results[form] = RENDERERS[form](
                        pages, source, self.engine_name, self.engine_version
                    )
        if "pdf" in outputs:
            layered = None if pages is None else {p.number for p in pages if p.from_layer}
            results["pdf"], count = self._searchable_pdf(path, layered)
        return pages, results, count

    def _publish(
        self, path: Path, pages: list[PageResult] | None, results: dict[str, bytes]
    ) -> None:
        """The document's answers, the result last (it says the document is done): its word
        confidences, then each other output, then the first."""
        profile = self.profile
        summary = None if pages is None else confidence(pages)
        if summary is not None:
            write_atomically(profile.confidence_path(path.name), json.dumps(summary).encode())
        for form, target in profile.extra_result_paths(path.name).items():
            write_atomically(target, results[form])
        write_atomically(profile.result_path(path.name), results[profile.output_format])

    def _note_layers(self, name: str, layered: int, total: int) -> None:
        if layered:
            self._note(name, [f"{layered} of {total} pages read from the document's text layer"])

    def _page_done(self, count: int = 1) -> None:
        self.pages_done += count
        self.metrics.robot_pages.labels(self.profile.name).inc(count)

    @property
    def engine_name(self) -> str:
        return self.engine.name if self.engine is not None else "tesseract"

    @property
    def engine_version(self) -> str:
        return self.engine.version if self.engine is not None else ""

    def _dropped(self, path: Path) -> bool:
        self.profile.progress_path(path.name).unlink(missing_ok=True)
        self._forget(path)
        return False

    def _forget(self, path: Path) -> None:
        """What the robot kept about a document while it was read: its pages, its count."""
        crashes.forget(self.profile, path.name)

    def _searchable_pdf(self, path: Path, layered: set[int] | None = None) -> tuple[bytes, int]:
        """Tesseract's PDF renderer takes the whole document: not spread across processes.
        Pages are rendered one at a time as the renderer's input is written. Pages read from
        their text layer (`layered`; found here when None) are not OCRed: they are taken
        from the document as they are, and the OCRed pages put between them in order. Given
        `layered`, the pages were read for the other outputs already: their progress and
        count stand, and are not reported again."""
        alone = layered is None
        assert self.engine is not None
        profile = self.profile
        progress = profile.progress_path(path.name)
        with (
            self._open(path) as document,
            tempfile.TemporaryDirectory(prefix="cora-ocr-pdf-") as folder,
        ):
            workdir, total = Path(folder), document.page_count
            if alone:
                write_atomically(progress, f"0 {total}".encode())
            if layered is None:
                known = len(document.notes)
                layered = {
                    number
                    for number in range(1, total + 1)
                    if document.layer(number, profile.skip_text) is not None
                }
                self._note(path.name, document.notes[known:])
                self._note_layers(path.name, len(layered), total)
            scanned = [number for number in range(1, total + 1) if number not in layered]
            if scanned:
                pages = (self._page(document, path.name, number) for number in scanned)
                self.engine.searchable_pdf(pages, profile.dpi, workdir)
            if layered:
                ocred = workdir / "result.pdf" if scanned else None
                assemble(path, ocred, scanned, total, workdir / "assembled.pdf")
                data = (workdir / "assembled.pdf").read_bytes()
            else:
                data = (workdir / "result.pdf").read_bytes()
        if alone:
            self._page_done(total)
            write_atomically(progress, f"{total} {total}".encode())
        return data, total

    def _recognize(self, path: Path) -> list[PageResult]:
        assert self.engine is not None
        profile = self.profile
        progress = profile.progress_path(path.name)
        with self._open(path) as document:
            write_atomically(progress, f"0 {document.page_count}".encode())
            if document.page_count > 1 and profile.robot_processes > 1:
                return self._spread(path, document)
            results = []
            for number in range(1, document.page_count + 1):
                results.append(self._read(document, path.name, number))
                self._page_done()
                write_atomically(progress, f"{number} {document.page_count}".encode())
        return results

    def _open(self, path: Path) -> Document:
        profile = self.profile
        return open_document(path, profile.media_types, profile.dpi, profile.max_page_pixels)

    def _refuse(self, path: Path, reason: str) -> None:
        crashes.refuse(self.profile, path, reason)
