"""Pages with a barcode on them as scanners deliver them (tests/integration/test_barcodes.py,
bench/ocr.py): a code made by zxing-cpp at a module size forms print, on an A4 page of text at
a dpi, then turned, skewed and made bilevel."""

from __future__ import annotations

import zxingcpp
from PIL import Image

from cora_ocr.robot import samples


def code_image(format_name: str, text: str, dpi: int) -> Image.Image:
    barcode = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, format_name))
    # Modules as forms print them: about 0.33 mm for a linear code, 0.5 mm for a 2D one.
    module = max(2, round(dpi / (50 if format_name in ("QRCode", "DataMatrix") else 75)))
    view = memoryview(barcode.to_image(scale=module))
    return Image.frombytes("L", (view.shape[1], view.shape[0]), view.tobytes())


def page_with(code: Image.Image, dpi: int, lines: int = 6) -> Image.Image:
    """An A4 page at `dpi`: lines of text, the code below them, a quiet zone around it."""
    text = samples.render_page(samples.sample_lines(seed=dpi, count=lines))
    page = Image.new("L", (round(8.27 * dpi), round(11.69 * dpi)), 255)
    page.paste(
        text.convert("L").resize((page.width, page.width * text.height // text.width)), (0, 0)
    )
    page.paste(code, (page.width // 3, page.height * 2 // 3))
    return page


def scanned(page: Image.Image, turn: int, skew: float, bilevel: bool) -> Image.Image:
    out = page.rotate(turn, expand=True, fillcolor=255) if turn else page
    out = out.rotate(skew, expand=True, fillcolor=255, resample=Image.Resampling.BILINEAR)
    return out.convert("1").convert("L") if bilevel else out


def code_page(format_name: str, dpi: int, turn: int = 0) -> Image.Image:
    """A page with one code of `format_name` (its text: the format's name and the dpi)."""
    page = page_with(code_image(format_name, f"{format_name}-{dpi}", dpi), dpi)
    return scanned(page, turn, 0.0, False)
