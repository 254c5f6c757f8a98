"""Reading documents page by page: PDF (rendered with PDFium), TIFF (every frame), PNG, JPEG.

The type is decided by the file's content, never by its name: a renamed .exe is refused.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from cora_ocr.robot.engine import PageResult
from cora_ocr.robot.layers import read_layer

# What one page may take, unless the profile says (`max_page_megapixels`): A3 at 600 dpi.
# Pages over it are rendered (PDF) or scaled (images) down to fit; a PDF page that would not
# fit even at 72 dpi, and an image of more than twice the budget (Pillow's own decompression
# bomb rule, Image.MAX_IMAGE_PIXELS being set to the budget), are refused.
DEFAULT_PAGE_PIXELS = 70_000_000
Image.MAX_IMAGE_PIXELS = DEFAULT_PAGE_PIXELS
LOWEST_DPI = 72

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
    """An open document; its pages are read one at a time, each within the page budget
    (`max_pixels`). `notes` says what was done to fit a page (for the job's history)."""

    media_type: str
    page_count: int
    _source: Any
    dpi: int
    max_pixels: int = DEFAULT_PAGE_PIXELS
    notes: list[str] = field(default_factory=list)

    def pages(self) -> Iterator[Image.Image]:
        """Each page as a greyscale image, rendered only when asked for."""
        for number in range(1, self.page_count + 1):
            yield self.page(number)

    def page(self, number: int) -> Image.Image:
        """Page `number` (1-based) alone, as a greyscale image within the page budget."""
        if not 1 <= number <= self.page_count:
            raise UnsupportedDocument(f"the document has no page {number}")
        if self.media_type == "application/pdf":
            return self._pdf_page(number)
        try:
            with _pillow_budget(self.max_pixels):  # each frame of a TIFF is judged as it comes
                self._source.seek(number - 1)
                return self._fitted(number, self._source)
        except Image.DecompressionBombError as exc:
            raise _over_twice(self.max_pixels, exc) from None
        except (OSError, SyntaxError, ValueError) as exc:  # decoded only now: truncated, garbled
            raise UnsupportedDocument(f"unreadable image, page {number}: {exc}") from None

    def layer(self, number: int, mode: str) -> PageResult | None:
        """Page `number` read from the PDF's text layer, or None where it is to be OCRed
        (robot/layers.py: `mode` is the profile's skip_text; images have no layer)."""
        if self.media_type != "application/pdf":
            return None
        page = self._source[number - 1]
        try:
            dpi = lambda: self._pdf_scale(page, number) * 72  # noqa: E731
            return read_layer(page, number, dpi, mode, self.notes)
        finally:
            page.close()

    def _pdf_page(self, number: int) -> Image.Image:
        page = self._source[number - 1]
        try:
            scale = self._pdf_scale(page, number)
            image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
            image.info["dpi"] = (scale * 72, scale * 72)  # the page's size, for a PDF result
            return image
        finally:
            page.close()

    def _pdf_scale(self, page: Any, number: int) -> float:
        """Pixels per point for a PDF page: the profile's dpi, or less to fit the page
        budget (noted); UnsupportedDocument if even LOWEST_DPI would not fit."""
        width, height = page.get_size()  # points, 72 to the inch
        scale = self.dpi / 72
        wanted = width * height * scale * scale
        if wanted > self.max_pixels:
            # A hair under: PDFium rounds each side up to whole pixels.
            scale = math.sqrt(self.max_pixels / (width * height)) * 0.9995
            if scale * 72 < LOWEST_DPI:
                raise UnsupportedDocument(
                    f"page {number} is {width / 72:.0f} x {height / 72:.0f} inches: even at "
                    f"{LOWEST_DPI} dpi it is over the page budget of {self._budget()} "
                    "(max_page_megapixels)"
                )
            self.notes.append(
                f"page {number} rendered at {math.floor(scale * 72)} dpi instead of "
                f"{self.dpi}: at {self.dpi} dpi it is {wanted / 1e6:.0f} Mpx, over the "
                f"page budget of {self._budget()}"
            )
        return scale

    def _fitted(self, number: int, frame: Image.Image) -> Image.Image:
        """An image frame in greyscale, scaled down to the page budget if it is over."""
        width, height = frame.size
        if width * height <= self.max_pixels:
            return _grey(frame)
        factor = math.sqrt(self.max_pixels / (width * height))
        size = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
        if frame.format == "JPEG":
            frame.draft("L", size)  # decoded at 1/2, 1/4 or 1/8 of its size, not whole
        page = _grey(frame)
        if page.size != size:
            page = page.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if "dpi" in frame.info:  # the same paper, fewer pixels
            page.info["dpi"] = tuple(value * size[0] / width for value in frame.info["dpi"])
        self.notes.append(
            f"page {number} scaled from {width} x {height} to {size[0]} x {size[1]} px: "
            f"{width * height / 1e6:.0f} Mpx is over the page budget of {self._budget()}"
        )
        return page

    def _budget(self) -> str:
        return f"{self.max_pixels / 1e6:g} Mpx"

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _pillow_budget(max_pixels: int) -> Iterator[None]:
    """Pillow's decompression bomb rule set to the page budget: over twice it, Pillow
    refuses an image before decoding it; between once and twice, it warns, and the page is
    scaled down to the budget instead."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _over_twice(max_pixels: int, exc: Exception) -> UnsupportedDocument:
    return UnsupportedDocument(
        f"the image is over twice the page budget of {max_pixels / 1e6:g} Mpx "
        f"(max_page_megapixels): {exc}"
    )


def _grey(frame: Image.Image) -> Image.Image:
    """A frame in 8-bit greyscale as it looks on paper, its dpi kept: transparency over white
    (a plain conversion drops the alpha, and a transparent background turns black), 16-bit
    samples scaled down (a plain conversion clips them: a 16-bit scan turns white)."""
    info = frame.info
    if frame.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        frame = frame.convert("I").point(lambda value: value * (1 / 256))
    elif "A" in frame.getbands() or "transparency" in info:
        rgba = frame.convert("RGBA")
        frame = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    grey = frame.convert("L")
    if "dpi" in info:
        grey.info["dpi"] = info["dpi"]
    return grey


def open_document(
    path: Path, accepted: tuple[str, ...], dpi: int = 300, max_pixels: int = DEFAULT_PAGE_PIXELS
) -> Document:
    media_type = sniff(path)
    if media_type is None:
        raise UnsupportedDocument("not a supported document type (expected PDF, TIFF, PNG or JPEG)")
    if media_type not in accepted:
        raise UnsupportedDocument(f"{media_type} is not accepted by this profile")
    if media_type == "application/pdf":
        return Document(media_type, *_open_pdf(path), dpi, max_pixels)
    try:
        with _pillow_budget(max_pixels):
            image = Image.open(path)
            count = getattr(image, "n_frames", 1)
    except Image.DecompressionBombError as exc:
        raise _over_twice(max_pixels, exc) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedDocument(f"unreadable image: {exc}") from None
    return Document(media_type, count, image, dpi, max_pixels)


def _open_pdf(path: Path) -> tuple[int, Any]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnsupportedDocument(
                "the PDF is encrypted with a password: it cannot be read without it"
            ) from None
        raise UnsupportedDocument(f"unreadable PDF: {exc}") from None
    if len(pdf) == 0:
        pdf.close()
        raise UnsupportedDocument("the PDF has no pages")
    return len(pdf), pdf


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
