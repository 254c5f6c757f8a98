"""Pages within a budget, and turned only on strong evidence (issue 24), in-process: the
profile's keys, PDF pages rendered at the dpi that fits, images scaled or refused before
they are decoded, and skew found on skewed pages only, whatever their shape."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from cora_ocr.config import Settings
from cora_ocr.errors import SettingsError
from cora_ocr.profiles import Profiles
from cora_ocr.robot import samples
from cora_ocr.robot.deskew import find_skew
from cora_ocr.robot.documents import UnsupportedDocument, open_document
from tests.support.corpus import TEXT, a4, encode, page, text_pdf

ALL = ("application/pdf", "image/tiff", "image/png", "image/jpeg")


def profile_of(tmp_path: Path, **table: object) -> object:
    settings = Settings(data_dir=tmp_path, profiles={"P": table})
    return Profiles.from_settings(settings).get("P")


def test_the_page_budget_and_memory_limit_are_profile_keys(tmp_path: Path) -> None:
    default = profile_of(tmp_path)
    assert (default.max_page_megapixels, default.robot_memory_mb) == (70.0, 2048)  # type: ignore[attr-defined]
    chosen = profile_of(tmp_path, max_page_megapixels=35, robot_memory_mb=0)
    assert (chosen.max_page_pixels, chosen.robot_memory_mb) == (35_000_000, 0)  # type: ignore[attr-defined]
    for key, value, says in [
        ("max_page_megapixels", 0.5, "is not in 1..1000"),
        ("max_page_megapixels", "70", "is not a number"),
        ("robot_memory_mb", 100, "is not 0 (no limit) or an integer in 512..1048576"),
        ("robot_memory_mb", True, "is not 0 (no limit)"),
    ]:
        with pytest.raises(SettingsError, match=rf"profiles\.P\.{key}: .*{re.escape(says)}"):
            profile_of(tmp_path, **{key: value})


def test_a_pdf_page_over_the_budget_is_rendered_at_the_dpi_that_fits(tmp_path: Path) -> None:
    path = tmp_path / "poster.pdf"
    path.write_bytes(text_pdf(TEXT[:1], 7200, 7200, 100))  # 100 inches square
    with open_document(path, ALL, dpi=300, max_pixels=70_000_000) as document:
        image = document.page(1)
    assert image.width * image.height <= 70_000_000 and image.width == image.height
    assert image.info["dpi"][0] == pytest.approx(83.6, abs=0.1)
    assert document.notes == [
        "page 1 rendered at 83 dpi instead of 300: at 300 dpi it is 900 Mpx, over the page "
        "budget of 70 Mpx"
    ]


def test_a_pdf_page_that_cannot_fit_even_at_72_dpi_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "banner.pdf"
    path.write_bytes(text_pdf(TEXT[:1], 14400, 14400, 100))
    with (
        open_document(path, ALL, dpi=150) as document,
        pytest.raises(UnsupportedDocument) as refused,
    ):
        document.page(1)
    assert str(refused.value) == (
        "page 1 is 200 x 200 inches: even at 72 dpi it is over the page budget of 70 Mpx "
        "(max_page_megapixels)"
    )


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "TIFF"])
def test_an_image_over_the_budget_is_scaled_down_to_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"scan.{kind.lower()}"
    path.write_bytes(encode(page(TEXT[:3], 2500, 2500, 60).convert("RGB"), kind, dpi=(300, 300)))
    with open_document(path, ALL, max_pixels=4_000_000) as document:
        image = document.page(1)
    assert image.mode == "L" and image.size == (2000, 2000)
    assert image.info["dpi"] == pytest.approx((240, 240), abs=0.01)  # the same paper, fewer pixels
    assert document.notes == [
        "page 1 scaled from 2500 x 2500 to 2000 x 2000 px: 6 Mpx is over the page budget of 4 Mpx"
    ]


def test_an_image_over_twice_the_budget_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(encode(Image.new("1", (3000, 3000), 1), "PNG"))
    with pytest.raises(UnsupportedDocument, match="over twice the page budget of 4 Mpx"):
        open_document(path, ALL, max_pixels=4_000_000)


def test_transparent_and_16_bit_images_read_as_they_look_on_paper(tmp_path: Path) -> None:
    ink = a4(TEXT)
    clear = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    clear.putalpha(Image.eval(ink, lambda value: 255 - value))
    deep = ink.convert("I").point(lambda value: value * 257).convert("I;16")
    for name, image in (("alpha.png", clear), ("deep.png", deep)):
        (tmp_path / name).write_bytes(encode(image, "PNG"))
        with open_document(tmp_path / name, ALL) as document:
            grey = document.page(1)
        assert grey.getextrema() == (0, 255), name  # ink black, paper white
        assert grey.tobytes() == ink.tobytes(), name


def _sheet(width: int, height: int, count: int, size: int, seed: int, words: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("L", (width, height), 255)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=size)
    for index in range(count):
        text = " ".join(rng.choice(samples.WORDS) for _ in range(rng.randint(1, words)))
        draw.text((20, 10 + index * int(size * 1.6)), text, fill=0, font=font)
    return image


STRAIGHT = {
    "2-line label": lambda seed: _sheet(760, 148, 2, 36, seed, 3),
    "single line": lambda seed: _sheet(1200, 80, 1, 40, seed, 5),
    "receipt strip": lambda seed: _sheet(400, 2000, 45, 24, seed, 2),
    "business card": lambda seed: _sheet(1050, 600, 6, 44, seed, 3),
    "A4": lambda seed: samples.render_page(samples.sample_lines(seed, 20)),
    "A3 at 600 dpi": lambda seed: samples.render_page(
        samples.sample_lines(seed, 60), 7016, 9921, 112
    ),
}


@pytest.mark.parametrize("shape", list(STRAIGHT))
def test_a_straight_page_of_any_shape_is_never_turned(shape: str) -> None:
    seeds = range(3 if shape.startswith("A3") else 12)  # 70 Mpx each
    turned = {seed: find_skew(STRAIGHT[shape](seed)) for seed in seeds}
    assert {seed: angle for seed, angle in turned.items() if angle} == {}


@pytest.mark.parametrize("angle", [-8, -5, -3, -2, 2, 3, 5, 8])
def test_a_skewed_a4_page_is_found_to_the_tenth_of_a_degree(angle: int) -> None:
    for seed in range(3):
        skewed = STRAIGHT["A4"](seed).rotate(angle, expand=True, fillcolor=255)
        assert abs(find_skew(skewed) + angle) <= 0.2
