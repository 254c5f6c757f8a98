"""Reading documents page by page: PDF (rendered with PDFium), TIFF (every frame), PNG, JPEG.

The type is decided by the file's content, never by its name: a renamed .exe is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageSequence

# A4 at 600 dpi is 35 Mpx; anything far beyond is a decompression bomb, not a scan.
Image.MAX_IMAGE_PIXELS = 80_000_000

SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class UnsupportedDocument(Exception):
    """The file is not a document the robot can read; the message says why."""


def sniff(path: Path) -> str | None:
    with path.open("rb") as handle:
        return _media_type(handle.read(1024))


def _media_type(head: bytes) -> str | None:
    for signature, media_type in SIGNATURES:
        if head.startswith(signature):
            return media_type
    # PDF readers accept a little junk before the header; so do we.
    return "application/pdf" if b"%PDF-" in head else None


@dataclass
class Document:
    media_type: str
    page_count: int
    _source: Any
    dpi: int

    def pages(self) -> Iterator[Image.Image]:
        """Each page as a greyscale image, rendered only when asked for."""
        if self.media_type == "application/pdf":
            for number in range(1, self.page_count + 1):
                yield self.page(number)
        else:
            for frame in ImageSequence.Iterator(self._source):
                yield frame.convert("L")

    def page(self, number: int) -> Image.Image:
        """Page `number` (1-based) alone, as a greyscale image."""
        if not 1 <= number <= self.page_count:
            raise UnsupportedDocument(f"the document has no page {number}")
        if self.media_type == "application/pdf":
            page = self._source[number - 1]
            try:
                return page.render(scale=self.dpi / 72, grayscale=True).to_pil().convert("L")
            finally:
                page.close()
        self._source.seek(number - 1)
        return self._source.convert("L")

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_document(path: Path, accepted: tuple[str, ...], dpi: int = 300) -> Document:
    media_type = sniff(path)
    if media_type is None:
        raise UnsupportedDocument("not a supported document type (expected PDF, TIFF, PNG or JPEG)")
    if media_type not in accepted:
        raise UnsupportedDocument(f"{media_type} is not accepted by this profile")
    if media_type == "application/pdf":
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            raise UnsupportedDocument(f"unreadable PDF: {exc}") from None
        if len(pdf) == 0:
            pdf.close()
            raise UnsupportedDocument("the PDF has no pages")
        return Document(media_type, len(pdf), pdf, dpi)
    try:
        image = Image.open(path)
        count = getattr(image, "n_frames", 1)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedDocument(f"unreadable image: {exc}") from None
    return Document(media_type, count, image, dpi)


def count_pages(handle: BinaryIO) -> int:
    """The pages of an open document, without rendering any; 1 for what cannot be read
    (the robot refuses it later, with the reason)."""
    media_type = _media_type(handle.read(1024))
    handle.seek(0)
    try:
        if media_type == "application/pdf":
            import pypdfium2 as pdfium

            pdf = pdfium.PdfDocument(handle, autoclose=False)
            try:
                return max(1, len(pdf))
            finally:
                pdf.close()
        if media_type is not None:
            with Image.open(handle) as image:
                return max(1, int(getattr(image, "n_frames", 1)))
    except Exception:  # any reader error means the same: not countable, count one page
        return 1
    return 1
