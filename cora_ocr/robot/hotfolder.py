"""The robot loop: documents in, results out, through the profile's hot folders.

Protocol (README "Hot-folder protocol"): a document `name.ext` in input_dir becomes
`<stem><result_extension>` in output_dir, or `<stem>.error` with the reason; while working the
robot keeps `.<stem>.progress` ("done total") up to date. Files are written under a hidden
name and renamed, so a reader never sees half a file. Documents are named for their job
(`<job id>-<token>-<FileName>`); results name the caller's FileName as their source.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cora_ocr.outages import Backoff, Outage
from cora_ocr.profiles import Profile, original_name
from cora_ocr.robot.documents import UnsupportedDocument, open_document
from cora_ocr.robot.engine import PageResult, TesseractEngine
from cora_ocr.robot.render import RENDERERS

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0


def write_atomically(target: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".robot", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class Robot:
    def __init__(
        self,
        profile: Profile,
        engine_factory: Callable[[Profile], TesseractEngine] | None = None,
        idle_seconds: float = 0.5,
    ) -> None:
        self.profile = profile
        self.engine = (engine_factory or (lambda p: TesseractEngine(p.languages)))(profile)
        self.idle_seconds = idle_seconds
        self._last_beat = -HEARTBEAT_SECONDS
        self.stop_event = threading.Event()
        self.pages_done = 0
        self.outage = Outage(f"robot folders of profile {profile.name}", log, Backoff(cap=10.0))

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
        write_atomically(
            self.profile.heartbeat_path(), f"{socket.gethostname()} {os.getpid()}\n".encode()
        )

    def ensure_folders(self) -> None:
        """Recreate a missing hot folder; OSError if that cannot be done (a file in the way,
        a share not mounted)."""
        for folder in (self.profile.input_dir, self.profile.output_dir):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                log.warning("recreated the missing robot folder %s", folder)

    def run(self, burst: bool = False) -> int:
        """Process documents until stopped (burst: until the input folder is empty).

        A hot folder that is missing is recreated; one that cannot be, or a write that
        fails, is weather: one WARNING, then the loop waits and tries again (burst: returns).
        """
        handled = 0
        while not self.stop_event.is_set():
            try:
                self.ensure_folders()
                self.beat()
                batch = self.pending()
                for path in batch:
                    if self.stop_event.is_set():
                        break
                    self.process(path)
                    handled += 1
            except OSError as error:
                delay = self.outage.failed(error)
                if burst:
                    break
                self.stop_event.wait(delay)
                continue
            self.outage.succeeded()
            if not batch:
                if burst:
                    break
                self.stop_event.wait(self.idle_seconds)
        return handled

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.engine.close()

    def process(self, path: Path) -> bool:
        """One document; True if a result was written. Never raises for a bad document."""
        profile = self.profile
        started = time.perf_counter()
        try:
            if profile.output_format == "pdf":
                data, count = self._searchable_pdf(path)
            else:
                pages = self._recognize(path)
                count = len(pages)
                data = RENDERERS[profile.output_format](
                    pages, original_name(path.name), self.engine.name, self.engine.version
                )
        except UnsupportedDocument as exc:
            self._refuse(path, str(exc))
            return False
        except Exception as exc:  # the engine failed on this document; keep serving others
            log.exception("OCR of %s failed", path.name)
            self._refuse(path, f"OCR failed: {type(exc).__name__}: {exc}")
            return False
        if not path.exists():  # the job was aborted meanwhile: publish nothing
            profile.progress_path(path.name).unlink(missing_ok=True)
            return False
        write_atomically(profile.result_path(path.name), data)
        path.unlink(missing_ok=True)
        log.info(
            "recognised %s: %d pages in %.2f s",
            path.name,
            count,
            time.perf_counter() - started,
            extra={"pages": count},
        )
        return True

    def _searchable_pdf(self, path: Path) -> tuple[bytes, int]:
        profile = self.profile
        progress = profile.progress_path(path.name)
        with open_document(path, profile.media_types, profile.dpi) as document:
            write_atomically(progress, f"0 {document.page_count}".encode())
            images = list(document.pages())
        with tempfile.TemporaryDirectory(prefix="cora-ocr-pdf-") as workdir:
            data = self.engine.searchable_pdf(images, profile.dpi, Path(workdir))
        self.pages_done += len(images)
        write_atomically(progress, f"{len(images)} {len(images)}".encode())
        return data, len(images)

    def _recognize(self, path: Path) -> list[PageResult]:
        profile = self.profile
        progress = profile.progress_path(path.name)
        with open_document(path, profile.media_types, profile.dpi) as document:
            write_atomically(progress, f"0 {document.page_count}".encode())
            results = []
            for number, image in enumerate(document.pages(), 1):
                results.append(
                    self.engine.recognize(image, number, want_hocr=profile.output_format == "hocr")
                )
                self.pages_done += 1
                write_atomically(progress, f"{number} {document.page_count}".encode())
        return results

    def _refuse(self, path: Path, reason: str) -> None:
        log.warning("refused %s: %s", path.name, reason)
        if path.exists():
            write_atomically(self.profile.error_path(path.name), reason.encode("utf-8"))
            path.unlink(missing_ok=True)
        self.profile.progress_path(path.name).unlink(missing_ok=True)
