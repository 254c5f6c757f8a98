"""The reading of one document by the profile's engine, writing nothing but its progress and
notes (the job's history): every output of the profile from one reading (ALTO, hOCR, text from
its pages; Tesseract's searchable PDF), a page read from the PDF's text layer where the profile
says so (robot/layers.py), the page budget kept (robot/documents.py). A document of several
pages may be spread across processes (robot/spread.py: `spread`)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from cora_ocr.metrics import Metrics
from cora_ocr.profiles import Profile, original_name
from cora_ocr.robot import crashes, pdfa
from cora_ocr.robot.barcodes import read_codes
from cora_ocr.robot.crashes import write_atomically
from cora_ocr.robot.documents import Document, open_document
from cora_ocr.robot.engine import PageResult, TesseractEngine
from cora_ocr.robot.layers import assemble
from cora_ocr.robot.render import RENDERERS

log = logging.getLogger(__name__)
Spread = Callable[[Path, Document], list[PageResult]]
PDFS = ("pdf", "pdfa")  # made by Tesseract's PDF renderer, not from the pages read


class Reader:
    """One process's engine for one profile, and the pages it read."""

    def __init__(self, profile: Profile, engine: TesseractEngine | None, metrics: Metrics) -> None:
        self.profile, self.engine, self.metrics = profile, engine, metrics
        self.pages_done = 0
        # How a document of several pages is read by several processes (robot/spread.py);
        # None: page after page here.
        self.spread: Spread | None = None

    def results(self, path: Path) -> tuple[list[PageResult] | None, dict[str, bytes], int]:
        """Every output of the profile from one reading of the document: its pages (None
        when the only output is a PDF, which Tesseract's renderer reads on its own), each
        format's bytes, and how many pages."""
        outputs, results = self.profile.outputs, {}
        pages, count = None, 0
        if any(form not in PDFS for form in outputs):
            pages = self.recognize(path)
            self.note_layers(path.name, sum(page.from_layer for page in pages), len(pages))
            source, count = original_name(path.name), len(pages)
            for form in outputs:
                if form not in PDFS:
                    results[form] = RENDERERS[form](
                        pages, source, self.engine_name, self.engine_version
                    )
        if any(form in PDFS for form in outputs):
            layered = None if pages is None else {p.number for p in pages if p.from_layer}
            searchable, count = self.searchable_pdf(path, layered)
            if "pdf" in outputs:
                results["pdf"] = searchable
            if "pdfa" in outputs:
                results["pdfa"] = self.archivable(path.name, searchable)
        return pages, results, count

    def archivable(self, name: str, searchable: bytes) -> bytes:
        """The PDF/A of the searchable PDF (robot/pdfa.py), or the searchable PDF itself where
        the document cannot be made one: the reason in the job's history and `.<stem>.pdfa`."""
        part = self.profile.pdfa
        try:
            archived = pdfa.convert(searchable, part, original_name(name), "cora_ocr")
        except pdfa.NotArchivable as exc:
            self.note(name, [f"pdfa: false ({exc}): delivered as a plain searchable PDF"])
            write_atomically(self.profile.pdfa_path(name), f"false {exc}".encode())
            return searchable
        write_atomically(self.profile.pdfa_path(name), f"true PDF/A-{part}".encode())
        return archived

    def recognize(self, path: Path) -> list[PageResult]:
        assert self.engine is not None
        profile = self.profile
        progress = profile.progress_path(path.name)
        with self.open(path) as document:
            write_atomically(progress, f"0 {document.page_count}".encode())
            if document.page_count > 1 and profile.robot_processes > 1 and self.spread:
                return self.spread(path, document)
            results = []
            for number in range(1, document.page_count + 1):
                results.append(self.read(document, path.name, number))
                self.page_done()
                write_atomically(progress, f"{number} {document.page_count}".encode())
        return results

    def searchable_pdf(self, path: Path, layered: set[int] | None = None) -> tuple[bytes, int]:
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
            self.open(path) as document,
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
                self.note(path.name, document.notes[known:])
                self.note_layers(path.name, len(layered), total)
            scanned = [number for number in range(1, total + 1) if number not in layered]
            if scanned:
                pages = (self.page(document, path.name, number) for number in scanned)
                self.engine.searchable_pdf(pages, profile.dpi, workdir)
            if layered:
                ocred = workdir / "result.pdf" if scanned else None
                assemble(path, ocred, scanned, total, workdir / "assembled.pdf")
                data = (workdir / "assembled.pdf").read_bytes()
            else:
                data = (workdir / "result.pdf").read_bytes()
        if alone:
            self.page_done(total)
            write_atomically(progress, f"{total} {total}".encode())
        return data, total

    def open(self, path: Path) -> Document:
        profile = self.profile
        return open_document(path, profile.media_types, profile.dpi, profile.max_page_pixels)

    def page(self, document: Document, name: str, number: int) -> Image.Image:
        """Page `number` of the document `name`; what was done to fit it into the page budget
        is added to the document's notes file (the job's history), by whichever process
        read the page."""
        known = len(document.notes)
        image = document.page(number)
        self.note(name, document.notes[known:])
        return image

    def read(self, document: Document, name: str, number: int) -> PageResult:
        """Page `number` from the PDF's text layer (skip_text), or read by the engine; a page
        it straightened first is noted."""
        known = len(document.notes)
        layer = document.layer(number, self.profile.skip_text)
        # A page budget's lower dpi; a layer not trusted, or cleaned.
        self.note(name, document.notes[known:])
        if layer is not None:
            if self.profile.barcodes:  # drawn on the page: read from its image
                layer.barcodes = read_codes(
                    self.page(document, name, number), self.profile.barcodes
                )
            return layer
        assert self.engine is not None
        want_hocr = "hocr" in self.profile.outputs
        image = self.page(document, name, number)
        codes = read_codes(image, self.profile.barcodes)  # the page as it came, before deskew
        page = self.engine.recognize(image, number, want_hocr)
        page.barcodes = codes
        if page.straightened:
            self.note(name, [f"page {number} straightened by {page.straightened:+.1f} degrees"])
        return page

    def note(self, name: str, notes: list[str]) -> None:
        crashes.note(self.profile, name, notes)

    def note_layers(self, name: str, layered: int, total: int) -> None:
        if layered:
            self.note(name, [f"{layered} of {total} pages read from the document's text layer"])

    def page_done(self, count: int = 1) -> None:
        self.pages_done += count
        self.metrics.robot_pages.labels(self.profile.name).inc(count)

    @property
    def engine_name(self) -> str:
        return self.engine.name if self.engine is not None else "tesseract"

    @property
    def engine_version(self) -> str:
        return self.engine.version if self.engine is not None else ""
