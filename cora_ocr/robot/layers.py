"""Pages read from a PDF's own text layer instead of OCR (the profile's `skip_text`), as
OCRmyPDF's --skip-text and Paperless's OCR modes do: a born-digital invoice's text is exact
and takes milliseconds, where rendering and recognising it takes a second and may misread.

Which pages (`skip_text`):
- "auto" (default): a page whose text layer covers its content: it has text, and images
  cover less than half of it (a scan, even one with an old OCR layer, is read again);
- "always": every page that has text;
- "never": none.

A page read from its layer is a PageResult like an OCRed one (words with their boxes in
pixels at the profile's dpi, confidence 100; lines as PDFium orders them), so ALTO, hOCR,
text and PDF results have the same shape either way.

A layer is checked before it is trusted: a font without a Unicode map (a Type 3 font with no
ToUnicode, as in OCRmyPDF's type3_font_nomapping.pdf) yields control characters, U+FFFD or
private-use code points instead of text. Under "auto" such a page is read by OCR; under
"always" what XML cannot hold is removed. Either way the job's history says so (`notes`).
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cora_ocr.robot.engine import Block, Box, Line, PageResult, Word

# Images covering this share of a page or more make it a scan, whatever text it has (auto).
SCAN_SHARE = 0.5
# A line further below the previous than this many of its heights starts a new block.
BLOCK_GAP = 1.0
# A layer whose characters are more than this share unmapped is no text (auto: OCR instead).
UNMAPPED_SHARE = 0.5


def xml_safe(char: str) -> bool:
    """A character XML 1.0 can hold (its Char production)."""
    code = ord(char)
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _unmapped(char: str) -> bool:
    """A code point a font without a Unicode map yields in place of a character."""
    return char == "\ufffd" or not xml_safe(char) or unicodedata.category(char) in ("Co", "Cs")


def untrusted(text: str) -> str | None:
    """Why a layer's text is not to be taken as the page's text, or None."""
    chars = [char for char in text if not char.isspace()]
    unsafe = sum(not xml_safe(char) for char in chars)
    if unsafe:
        return f"{unsafe} control characters XML cannot hold (a font without a Unicode map)"
    unmapped = sum(_unmapped(char) for char in chars)
    if chars and unmapped / len(chars) > UNMAPPED_SHARE:
        return f"{unmapped} of {len(chars)} characters unmapped (U+FFFD, private use)"
    return None


def read_layer(
    page: Any,
    number: int,
    dpi: Callable[[], float],
    mode: str,
    notes: list[str] | None = None,
) -> PageResult | None:
    """Page `number` of a PDF (a pypdfium2 page) from its text layer, or None where `mode`
    says it is to be OCRed; its boxes in pixels at `dpi()`, the resolution the page would
    be rendered at (within the page budget). Turned pages (/Rotate) are OCRed: their
    layer's boxes are in the page's own orientation, not the one it is seen in. Why a layer
    was not trusted, or what was removed from it, is added to `notes`."""
    if mode == "never" or page.get_rotation() % 360:
        return None
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        if not text.strip():
            return None
        if mode == "auto" and _image_share(page) >= SCAN_SHARE:
            return None
        problem = untrusted(text)
        if problem is not None and mode == "auto":
            if notes is not None:
                notes.append(f"page {number}: its text layer was not used ({problem}); read by OCR")
            return None
        if problem is not None and notes is not None:
            removed = sum(not xml_safe(char) for char in text)
            notes.append(
                f"page {number}: {removed} characters XML cannot hold were removed from its "
                f"text layer ({problem})"
            )
        return _page(textpage, text, page.get_size(), number, dpi())
    finally:
        textpage.close()


def _image_share(page: Any) -> float:
    """How much of the page its images cover (overlaps counted twice, capped at 1)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    covered = 0.0
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        left, bottom, right, top = image.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0.0)) * max(
            0.0, min(top, height) - max(bottom, 0.0)
        )
    return min(1.0, covered / (width * height)) if width * height else 1.0


def _page(
    textpage: Any, text: str, size: tuple[float, float], number: int, dpi: float
) -> PageResult:
    scale = dpi / 72
    width, height = size

    def pixels(left: float, bottom: float, right: float, top: float) -> Box:
        return (
            round(left * scale),
            round((height - top) * scale),
            round(right * scale),
            round((height - bottom) * scale),
        )

    lines: list[list[Word]] = [[]]
    word: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []

    def end_word() -> None:
        if word:
            box = pixels(
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            lines[-1].append(Word("".join(word), box, 1.0))
            word.clear()
            boxes.clear()

    # One character per index as long as the text has no surrogate pairs (PDFium counts
    # UTF-16 units); otherwise each is asked for on its own.
    exact = len(text) == textpage.count_chars()
    for index in range(textpage.count_chars()):
        char = text[index] if exact else textpage.get_text_range(index, 1)
        if char in "\r\n":  # PDFium ends each line with CR LF
            end_word()
            if lines[-1]:
                lines.append([])
            continue
        if char.isspace():
            end_word()
            continue
        if not xml_safe(char):
            continue  # what XML cannot hold is no character of the page's text
        word.append(char)
        boxes.append(textpage.get_charbox(index))
    end_word()
    found = [line for line in lines if line]
    page = _result(number, round(width * scale), round(height * scale), found)
    page.dpi = dpi
    return page


def _union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _result(number: int, width: int, height: int, lines: list[list[Word]]) -> PageResult:
    blocks: list[Block] = []
    previous: Box | None = None
    for words in lines:
        box = _union([w.box for w in words])
        line_height = box[3] - box[1]
        if previous is None or box[1] - previous[3] > BLOCK_GAP * line_height:
            blocks.append(Block(box))
        blocks[-1].lines.append(Line(box, words))
        blocks[-1].box = _union([blocks[-1].box, box])
        previous = box
    text = "".join(" ".join(w.text for w in line) + "\n" for line in lines)
    page = PageResult(number, width, height, text, blocks, from_layer=True)
    page.hocr = hocr_page(page)
    return page


def hocr_page(page: PageResult) -> str:
    """The page as Tesseract's hOCR renderer writes one (ocr_page, ocr_carea, ocr_par,
    ocr_line, ocrx_word with bbox and x_wconf), for a page that was not OCRed."""

    def bbox(box: Box) -> str:
        return "bbox {} {} {} {}".format(*box)

    n = page.number
    whole = bbox((0, 0, page.width, page.height))
    parts = [f"  <div class='ocr_page' id='page_{n}' title='{whole}; ppageno {n - 1}'>"]
    for b, block in enumerate(page.blocks, 1):
        parts.append(f"   <div class='ocr_carea' id='block_{n}_{b}' title='{bbox(block.box)}'>")
        parts.append(f"    <p class='ocr_par' id='par_{n}_{b}' title='{bbox(block.box)}'>")
        for i, line in enumerate(block.lines, 1):
            parts.append(
                f"     <span class='ocr_line' id='line_{n}_{b}_{i}' title='{bbox(line.box)}'>"
            )
            for w, word in enumerate(line.words, 1):
                parts.append(
                    f"      <span class='ocrx_word' id='word_{n}_{b}_{i}_{w}'"
                    f" title='{bbox(word.box)}; x_wconf 100'>{html.escape(word.text)}</span>"
                )
            parts.append("     </span>")
        parts.append("    </p>")
        parts.append("   </div>")
    parts.append("  </div>")
    return "\n".join(parts)


def assemble(
    original: Path, ocred: Path | None, scanned: list[int], total: int, target: Path
) -> None:
    """`target`: the document's pages in order, each page in `scanned` (1-based, ascending)
    taken from the searchable PDF `ocred` (its pages in that order), every other as it is in
    `original` (PDFium copies a page with its resources)."""
    import pypdfium2 as pdfium

    result = pdfium.PdfDocument.new()
    source = pdfium.PdfDocument(str(original))
    recognised = pdfium.PdfDocument(str(ocred)) if ocred is not None else None
    try:
        position = {number: index for index, number in enumerate(scanned)}
        for number in range(1, total + 1):
            if number in position:
                assert recognised is not None
                result.import_pages(recognised, [position[number]])
            else:
                result.import_pages(source, [number - 1])
        result.save(str(target))
    finally:
        for document in (recognised, source, result):
            if document is not None:
                document.close()
