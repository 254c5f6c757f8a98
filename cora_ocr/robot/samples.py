"""Sample documents with known content (used by `cora-ocr demo`, the tests and the bench),
and the character error rate to score a recognition against them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

WORDS = [
    "invoice",
    "payment",
    "total",
    "amount",
    "customer",
    "order",
    "delivery",
    "address",
    "account",
    "balance",
    "shipping",
    "receipt",
    "number",
    "date",
    "quantity",
    "price",
    "description",
    "reference",
    "contract",
    "service",
    "period",
    "claim",
    "policy",
    "insurance",
    "premium",
    "coverage",
    "vehicle",
    "damage",
    "report",
    "approved",
    "pending",
    "signature",
]


# German text with umlauts and sharp s, for language tests (it needs a font with those
# glyphs: Pillow's bundled one has none; DejaVu is Debian's fonts-dejavu-core).
GERMAN_LINES = [
    "Sehr geehrte Damen und Herren, die Prüfung Ihres Antrags",
    "ergab eine Größe von fünf Maßeinheiten für die Straße.",
    "Bitte überweisen Sie den Betrag bis zum Fälligkeitsdatum",
    "an die Bank. Mit freundlichen Grüßen, Ihre Versicherung",
    "Schäden an Fahrzeugen werden gemäß Vertrag übernommen.",
    "Die Übergabe erfolgt außerhalb der Öffnungszeiten.",
]
DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def sample_lines(seed: int, count: int = 20, words_per_line: int = 7) -> list[str]:
    generator = random.Random(seed)
    return [" ".join(generator.choice(WORDS) for _ in range(words_per_line)) for _ in range(count)]


def render_page(
    lines: Sequence[str],
    width: int = 1240,
    height: int = 1754,
    font_size: int = 28,
    font_file: Path | None = None,
) -> Image.Image:
    """A white page (A4 at 150 dpi by default) with the lines in Pillow's bundled font, or
    in the TrueType font `font_file`."""
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    font = (
        ImageFont.truetype(str(font_file), font_size)
        if font_file
        else ImageFont.load_default(size=font_size)
    )
    step = int(font_size * 1.9)
    for index, line in enumerate(lines):
        draw.text((width // 12, height // 14 + index * step), line, fill=0, font=font)
    return page


def smudge(page: Image.Image, radius: float = 2.0, speckles: float = 0.05) -> Image.Image:
    """The page as a bad copy: blurred, and a share `speckles` of its pixels turned black
    or white (the same ones every time). Tesseract reads it at a mean confidence of about
    40 against 95 for the clean page."""
    generator = random.Random(1)
    copy = page.filter(ImageFilter.GaussianBlur(radius))
    pixels = copy.load()
    assert pixels is not None
    width, height = copy.size
    for _ in range(int(width * height * speckles)):
        pixels[generator.randrange(width), generator.randrange(height)] = generator.choice((0, 255))
    return copy


def write_born_digital_pdf(path: Path, pages: Sequence[Sequence[str] | Image.Image]) -> Path:
    """A PDF as an invoicing system writes one: each page's lines in an embedded font, no
    image; a page given as an image is a scan instead, filling an A4 page (fpdf2, a test
    dependency)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("dejavu", fname=str(DEJAVU_SANS))
    pdf.set_font("dejavu", size=12)
    for page in pages:
        pdf.add_page()
        if isinstance(page, Image.Image):
            pdf.image(page, x=0, y=0, w=pdf.w, h=pdf.h)
            continue
        for line in page:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def write_png(path: Path, lines: Sequence[str]) -> Path:
    render_page(lines).save(path, format="PNG", dpi=(150, 150))
    return path


def write_pdf(path: Path, pages: Sequence[Sequence[str]]) -> Path:
    """An image-only PDF, like a scanner produces."""
    images = [render_page(lines).convert("RGB") for lines in pages]
    images[0].save(path, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return path


def write_tiff(path: Path, pages: Sequence[Sequence[str]]) -> Path:
    images = [render_page(lines) for lines in pages]
    images[0].save(
        path,
        format="TIFF",
        save_all=True,
        append_images=images[1:],
        dpi=(150, 150),
        compression="tiff_deflate",
    )
    return path


def normalise(text: str) -> str:
    return " ".join(text.split())


def character_error_rate(expected: str, actual: str) -> float:
    """Levenshtein distance over the expected length, whitespace runs counted as one space."""
    want, got = normalise(expected), normalise(actual)
    previous = list(range(len(got) + 1))
    for i, char in enumerate(want, 1):
        current = [i]
        for j, other in enumerate(got, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1] / max(1, len(want))
