"""Tesseract through tesserocr (libtesseract in-process, language data from the tessdata
packages installed beside it). One engine per robot: the model is loaded once."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from cora_ocr.profiles import BUILT_IN, Profile
from cora_ocr.robot.deskew import MIN_CORRECTION, Turn, find_skew

# Tesseract's OpenMP threads fight each other on small machines (10 s/page instead of 1.5):
# this must be set before libtesseract is loaded.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

Box = tuple[int, int, int, int]  # left, top, right, bottom (as in robot.deskew)


class EngineUnavailable(RuntimeError):
    """The OCR engine or its language data is missing."""


@dataclass
class Word:
    text: str
    box: Box
    confidence: float


@dataclass
class Line:
    box: Box
    words: list[Word] = field(default_factory=list)


@dataclass
class Block:
    box: Box
    lines: list[Line] = field(default_factory=list)


@dataclass
class PageResult:
    number: int  # 1-based
    width: int
    height: int
    text: str
    blocks: list[Block]
    hocr: str | None = None
    straightened: float = 0.0  # degrees the page was turned by before it was read (deskew)
    from_layer: bool = False  # read from the PDF's own text layer, not OCRed (robot/layers.py)
    dpi: float = 0.0  # the resolution its pixels are at (0: not known)
    # The orientation its text was read in, degrees clockwise from upright (0, 90, 180, 270);
    # boxes stay on the page as delivered, whatever it was.
    rotation: int = 0
    barcodes: list[Any] = field(default_factory=list)  # robot/barcodes.py's Codes


def _rotation(iterator: Any) -> int:
    """The orientation Tesseract read the page's text in, from its first block (the result
    iterator's layout, no second analysis): degrees clockwise from upright."""
    try:
        orientation = iterator.Orientation()[0] if iterator is not None else 0
    except Exception:  # an empty page: nothing read, upright as far as anyone knows
        return 0
    return 90 * int(orientation) % 360


def default_tessdata() -> Path:
    """Where the tessdata-* packages put their language data (TESSDATA_PREFIX wins)."""
    prefix = os.environ.get("TESSDATA_PREFIX")
    return Path(prefix) if prefix else Path(sys.prefix) / "share" / "tessdata"


# Tesseract's orientation and script detection model (the `tessdata` package).
OSD = "osd"


def missing_language_data(languages: tuple[str, ...], folder: Path) -> list[str]:
    """The languages of `languages` that have no `<lang>.traineddata` in `folder`."""
    return [lang for lang in languages if not (folder / f"{lang}.traineddata").is_file()]


def language_problem(languages: tuple[str, ...], folder: Path, rotate_pages: bool) -> str | None:
    """Why Tesseract cannot read these languages from `folder`, in one line; None if it can."""
    missing = missing_language_data(languages + ((OSD,) if rotate_pages else ()), folder)
    if not missing:
        return None
    packages = " ".join("tessdata" if lang == OSD else f"tessdata-fast-{lang}" for lang in missing)
    return (
        f"no Tesseract language data for {', '.join(missing)} in {folder}"
        f" (pip install {packages}, or point tessdata_dir at a folder that has"
        f" {', '.join(lang + '.traineddata' for lang in missing)})"
    )


# A page read with a mean word confidence below this is read again with Tesseract's
# orientation detection (rotate_pages): an upside-down page reads at 20-35, an upright one
# at 80-95. Detecting the orientation of every page would halve the throughput (measured:
# 0.5 against 1.0 pages/s), for the few pages that are turned.
REREAD_BELOW_CONFIDENCE = 70


def _word_text(word: Any, level: int) -> str:
    """A word's text, or "" where Tesseract has none: on a page without words (a blank page,
    a separator sheet) its iterator still yields one empty word, whose text raises
    RuntimeError("No text returned")."""
    try:
        return word.GetUTF8Text(level) or ""
    except RuntimeError:
        return ""


class TesseractEngine:
    """One page at a time: small skews are straightened first (deskew); a page that reads
    badly is read again with orientation detection, which turns pages by 90/180/270
    (rotate_pages), and the better reading is kept. Boxes always refer to the page as
    delivered."""

    name = "tesseract"

    def __init__(
        self,
        languages: tuple[str, ...],
        tessdata: Path | None = None,
        rotate_pages: bool = True,
        deskew: bool = True,
    ) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        folder = tessdata or default_tessdata()
        problem = language_problem(languages, folder, rotate_pages)
        if problem:
            raise EngineUnavailable(problem)
        self._folder, self._lang = f"{folder}/", "+".join(languages)
        self._api: Any = tesserocr.PyTessBaseAPI(
            path=self._folder, lang=self._lang, psm=tesserocr.PSM.AUTO
        )
        self._oriented: Any = None  # the same with orientation detection, made when needed
        self.rotate_pages = rotate_pages
        self.deskew = deskew
        self.version = tesserocr.tesseract_version().split()[1]

    def straighten(self, image: Image.Image) -> tuple[Turn | None, Image.Image]:
        """The page with its skew corrected (and the turn, to map boxes back), or as it is."""
        if not self.deskew:
            return None, image
        angle = find_skew(image)
        if abs(angle) < MIN_CORRECTION:
            return None, image
        return Turn.of(image, angle)

    def _orienting(self) -> Any:
        if self._oriented is None:
            self._oriented = self._tesserocr.PyTessBaseAPI(
                path=self._folder, lang=self._lang, psm=self._tesserocr.PSM.AUTO_OSD
            )
        return self._oriented

    def recognize(self, image: Image.Image, number: int, want_hocr: bool = False) -> PageResult:
        turn, straight = self.straighten(image)
        result, confidence = self._read(self._api, straight, image, turn, number, want_hocr)
        if self.rotate_pages and confidence < REREAD_BELOW_CONFIDENCE:
            again, better = self._read(self._orienting(), straight, image, turn, number, want_hocr)
            if better > confidence:
                result = again
        return result

    def _read(
        self,
        api: Any,
        straight: Image.Image,
        image: Image.Image,
        turn: Turn | None,
        number: int,
        want_hocr: bool,
    ) -> tuple[PageResult, int]:
        """One reading of the page by `api`, and its mean confidence. What Tesseract keeps of
        the page (its copy of the image, its layout and words: several times the image on a
        big page) is let go before the next reading, not held until the next page."""
        ril = self._tesserocr.RIL
        try:
            api.SetImage(straight)
            api.Recognize()

            def where(box: Box) -> Box:
                return box if turn is None else turn.box_back(box)

            blocks: list[Block] = []
            iterator = api.GetIterator()
            rotation = _rotation(iterator)
            for word in self._tesserocr.iterate_level(iterator, ril.WORD):
                text = _word_text(word, ril.WORD)
                if not text.strip():
                    continue
                if not blocks or word.IsAtBeginningOf(ril.BLOCK):
                    blocks.append(Block(where(word.BoundingBox(ril.BLOCK))))
                if not blocks[-1].lines or word.IsAtBeginningOf(ril.TEXTLINE):
                    blocks[-1].lines.append(Line(where(word.BoundingBox(ril.TEXTLINE))))
                confidence = word.Confidence(ril.WORD) / 100
                blocks[-1].lines[-1].words.append(
                    Word(text.strip(), where(word.BoundingBox(ril.WORD)), confidence)
                )
            hocr = api.GetHOCRText(number - 1) if want_hocr else None
            if hocr is not None and turn is not None:
                hocr = turn.hocr_back(hocr)
            result = PageResult(
                number,
                image.width,
                image.height,
                api.GetUTF8Text(),
                blocks,
                hocr,
                turn.angle if turn is not None else 0.0,
                dpi=float((image.info.get("dpi") or (0.0, 0.0))[0]),
                rotation=rotation,
            )
            return result, int(api.MeanTextConf())
        finally:
            api.Clear()

    def searchable_pdf(self, pages: Iterable[Image.Image], dpi: int, workdir: Path) -> int:
        """`workdir/result.pdf`: the page images with an invisible text layer (Tesseract's PDF
        renderer). Each page is written to a file of its own as it comes, and Tesseract reads
        them from a list of names (its own way to take many images), so that one page image is
        held at a time, not the document. Returns the pages."""
        names = []
        for number, page in enumerate(pages, 1):
            path = workdir / f"page-{number:05}.tif"
            self.straighten(page)[1].save(
                path,
                format="TIFF",
                dpi=page.info.get("dpi", (dpi, dpi)),  # as rendered or scanned: paper size
                compression="tiff_deflate",
            )
            names.append(f"{path}\n")
        listing = workdir / "pages.txt"
        listing.write_text("".join(names), encoding="utf-8")
        # Whole documents: each page's orientation is detected (no second reading here).
        api = self._orienting() if self.rotate_pages else self._api
        api.SetVariable("tessedit_create_pdf", "1")
        try:
            if not api.ProcessPages(str(workdir / "result"), str(listing)):
                raise RuntimeError("Tesseract could not render the PDF")
        finally:
            api.SetVariable("tessedit_create_pdf", "0")
        return len(names)

    def close(self) -> None:
        self._api.End()
        if self._oriented is not None:
            self._oriented.End()


def engine_problems(profile: Profile) -> list[str]:
    """What stops the built-in robot from reading a profile here: its language data."""
    if profile.engine != BUILT_IN:
        return []
    problem = language_problem(
        profile.languages, profile.tessdata_dir or default_tessdata(), profile.rotate_pages
    )
    return [problem] if problem else []
