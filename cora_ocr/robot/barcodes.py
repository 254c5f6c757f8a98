"""Barcodes on a page (the profile's `barcodes`: a list of formats, or "all"; none by
default), read by zxing-cpp from the page image as it came (its own rotation search finds
codes turned by 90, 180 or 270 degrees; a few degrees of skew it reads as they are). Each is
reported with its format, text, box on the page (pixels) and orientation, in the JSON result
and in ALTO (robot/render.py: an Illustration of TYPE "barcode" whose TAGREFS name an OtherTag
holding the format and the text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

# The formats a profile may name (zxing-cpp's names; "all" reads every one it knows).
FORMATS = (
    "Aztec",
    "Codabar",
    "Code39",
    "Code93",
    "Code128",
    "DataBar",
    "DataBarExp",
    "DataBarLtd",
    "DataMatrix",
    "EAN8",
    "EAN13",
    "ITF",
    "MaxiCode",
    "MicroPDF417",
    "MicroQRCode",
    "PDF417",
    "QRCode",
    "RMQRCode",
    "UPCA",
    "UPCE",
)


@dataclass(frozen=True)
class Code:
    format: str  # zxing-cpp's name, e.g. "Code128"
    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom: pixels on the page as delivered
    orientation: int  # degrees, as zxing-cpp measures it


def read_codes(image: Image.Image, formats: tuple[str, ...]) -> list[Code]:
    """The codes of `formats` ("all": every format) on the page, top to bottom."""
    if not formats:
        return []
    import zxingcpp

    wanted: Any = (
        zxingcpp.BarcodeFormat.All
        if formats == ("all",)
        else zxingcpp.barcode_formats_from_str(",".join(formats))
    )
    found = zxingcpp.read_barcodes(_gray(image), formats=wanted)
    codes = [
        Code(result.format.name, result.text, _box(result.position), int(result.orientation))
        for result in found
        if result.valid
    ]
    return sorted(codes, key=lambda code: (code.box[1], code.box[0]))


def _gray(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def _box(position: Any) -> tuple[int, int, int, int]:
    corners = [
        position.top_left,
        position.top_right,
        position.bottom_right,
        position.bottom_left,
    ]
    xs, ys = [max(0, point.x) for point in corners], [max(0, point.y) for point in corners]
    return min(xs), min(ys), max(xs), max(ys)


def as_dict(code: Code) -> dict[str, Any]:
    return {
        "format": code.format,
        "text": code.text,
        "box": list(code.box),
        "orientation": code.orientation,
    }


def from_dict(raw: dict[str, Any]) -> Code:
    left, top, right, bottom = (int(edge) for edge in raw["box"])
    return Code(
        str(raw["format"]), str(raw["text"]), (left, top, right, bottom), int(raw["orientation"])
    )
