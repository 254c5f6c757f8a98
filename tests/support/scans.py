"""Documents of the sizes users send: scans of 200 KB to 20 MB as JPEG, PNG, PDF and TIFF.

A scanner's page is mostly paper grain: noise that neither PNG nor JPEG compresses away. The
pages here are that grain with a few dark text-like bars, sized to land near a byte count,
so that uploads meet the same multipart framing as a real scanner's files."""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw

KINDS = ("jpeg", "png", "pdf", "tiff")
SUFFIXES = {"jpeg": ".jpg", "png": ".png", "pdf": ".pdf", "tiff": ".tif"}
A4_RATIO = 297 / 210


def scan_page(pixels: int, seed: int) -> Image.Image:
    """A grey A4-shaped page of about `pixels` pixels: grain all over and lines of 'text'."""
    width = max(64, int(math.sqrt(pixels / A4_RATIO)))
    height = int(width * A4_RATIO)
    rng = random.Random(seed)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    page = Image.eval(grain, lambda value: 200 + value // 5)  # light paper, grain of 51 levels
    draw = ImageDraw.Draw(page)
    line = max(8, height // 60)
    for top in range(line * 3, height - line * 3, line * 2):
        draw.rectangle(
            (width // 10, top, width - width // 10 - rng.randrange(width // 3), top + line // 2),
            fill=30,
        )
    return page


# Bytes per pixel each kind takes for such a page (measured): to land near a target size.
_BYTES_PER_PIXEL = {"jpeg": 0.4, "png": 0.69, "pdf": 0.4, "tiff": 1.0}


def scan(kind: str, size: int, seed: int = 0) -> bytes:
    """A scan of about `size` bytes (within a factor of about 1.5) in `kind`'s format."""
    page = scan_page(int(size / _BYTES_PER_PIXEL[kind]), seed)
    out = io.BytesIO()
    if kind == "jpeg":
        page.save(out, "JPEG", quality=90)
    elif kind == "png":
        page.save(out, "PNG", compress_level=1)
    elif kind == "pdf":
        page.save(out, "PDF", resolution=300.0, quality=90)
    else:
        page.save(out, "TIFF", dpi=(300, 300))
    return out.getvalue()


def sizes(count: int, smallest: int, largest: int) -> list[int]:
    """`count` sizes spread evenly on a log scale from `smallest` to `largest` bytes."""
    ratio = (largest / smallest) ** (1 / (count - 1))
    return [int(smallest * ratio**index) for index in range(count)]
