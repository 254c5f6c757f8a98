"""A document of several pages read by every robot process of its profile: its owner writes a
task per page into `.cora-pages/<name>/`; the owner, and every process that finds no document
waiting, claims tasks by renaming `<n>.task` to `<n>.<owner>.claim`, renders that page alone,
recognises it and writes `<n>.json`. The owner assembles the pages in order. Results of a
document taken back are kept and not recognised again."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from cora_ocr.profiles import PAGES, Profile
from cora_ocr.robot.barcodes import from_dict
from cora_ocr.robot.claims import Claims, task_name
from cora_ocr.robot.crashes import write_atomically
from cora_ocr.robot.documents import Document
from cora_ocr.robot.engine import Block, Line, PageResult, Word
from cora_ocr.robot.reading import Reader

log = logging.getLogger(__name__)


class Aborted(Exception):
    """The document was taken away (its job aborted) while being recognised."""


class ReadAlone(Exception):
    """A page of the document killed two robot processes: the document is read once more,
    alone (robot/crashes.py)."""


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
        raw.get("dpi", 0.0),
        raw.get("rotation", 0),
        [from_dict(code) for code in raw.get("barcodes", [])],
    )


class PageTasks:
    """The page tasks of a profile, as one process takes part in them."""

    def __init__(
        self,
        profile: Profile,
        claims: Claims,
        reader: Reader,
        wake: Callable[[], threading.Event],
        events: Callable[[], bool],
    ) -> None:
        self.profile, self.claims, self.reader = profile, claims, reader
        self.wake_event, self.events = wake, events
        self.working_on: Path | None = None  # the document whose page is read now

    def help_once(self) -> bool:
        """Recognise one page task of a document another process (or this one) spread."""
        try:
            works = sorted(os.scandir(self.profile.input_dir / PAGES), key=lambda e: e.name)
        except FileNotFoundError:
            return False
        for work in works:
            task = self.claims.claim_task(Path(work.path))
            if task is None:
                continue
            number, claim = task
            documents = self.profile.claimed(work.name)
            try:
                if not documents:
                    raise Aborted
                self.working_on = documents[0]
                with self.reader.open(documents[0]) as document:
                    self.recognise(document, Path(work.path), number)
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

    def recognise(self, document: Document, work: Path, number: int) -> None:
        page = self.reader.read(document, work.name, number)
        self.reader.page_done()
        write_atomically(work / f"{number:05}.json", page_to_json(page))
        log.debug("page %d of %s recognised by %s", number, work.name, self.claims.owner)

    def spread(self, path: Path, document: Document) -> list[PageResult]:
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
                (work / task_name(number)).open("x").close()
        progress = self.profile.progress_path(path.name)
        reported = -1
        while True:
            if not path.exists():
                raise Aborted
            task = self.claims.claim_task(work)
            if task is not None:
                number, claim = task
                try:
                    self.recognise(document, work, number)
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
                self.claims.take_back_stale()
                wake = self.wake_event()
                wake.wait(0.05 if not self.events() else 0.5)
                wake.clear()
        return [page_from_json((work / f"{n:05}.json").read_bytes()) for n in range(1, total + 1)]
