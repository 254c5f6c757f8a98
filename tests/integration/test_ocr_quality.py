"""OCR that holds up on real scans (issue 15), through SOAP with the real robot: pages turned
by 90/180/270 and skewed, German with a `deu` profile, a language that is not installed."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from PIL import Image

from cora_ocr.robot import samples
from cora_ocr.robot.render import ALTO_NS, words_of_alto
from tests.conftest import Harness

LINES = samples.sample_lines(seed=5, count=12)
TURNS = {"turned90": 90, "turned180": 180, "turned270": 270, "skew3": 3, "skew-8": -8}


def save(image: Image.Image, path: Path) -> Path:
    image.save(path, format="PNG", dpi=(150, 150))
    return path


def alto_pages(data: bytes) -> list[etree._Element]:
    return etree.fromstring(data).findall(f".//{{{ALTO_NS}}}Page")


def first_word_box(data: bytes) -> tuple[int, int, int, int]:
    string = etree.fromstring(data).find(f".//{{{ALTO_NS}}}String")
    assert string is not None
    left, top = int(string.get("HPOS", "")), int(string.get("VPOS", ""))
    return left, top, left + int(string.get("WIDTH", "")), top + int(string.get("HEIGHT", ""))


def test_turned_and_skewed_pages_are_read_and_boxes_fit_the_page_as_delivered(
    harness: Harness,
) -> None:
    page = samples.render_page(LINES)
    scans = harness.root / "scans"
    save(page, scans / "upright.png")
    for name, angle in TURNS.items():
        save(page.rotate(angle, expand=True, fillcolor=255), scans / f"{name}.png")
    jobs = {name: harness.submit(f"{name}.png") for name in ["upright", *TURNS]}
    harness.cycle()

    for name, job_id in jobs.items():
        assert harness.status(job_id) == ("Completed", "NoError"), name
        result = harness.result(f"{name}.xml")
        rate = samples.character_error_rate(" ".join(LINES), " ".join(words_of_alto(result)))
        assert rate < 0.02, (name, rate)
        with Image.open(scans / f"{name}.png") as image:
            delivered = image.size
        (alto_page,) = alto_pages(result)
        assert (int(alto_page.get("WIDTH", "")), int(alto_page.get("HEIGHT", ""))) == delivered
        for string in etree.fromstring(result).iter(f"{{{ALTO_NS}}}String"):
            right = int(string.get("HPOS", "")) + int(string.get("WIDTH", ""))
            bottom = int(string.get("VPOS", "")) + int(string.get("HEIGHT", ""))
            assert right <= delivered[0] and bottom <= delivered[1], name

    # Coordinates refer to the page as delivered: the first word of the page turned by 180
    # degrees sits where the upright page's first word lands when turned.
    width, height = page.size
    left, top, right, bottom = first_word_box(harness.result("upright.xml"))
    turned = first_word_box(harness.result("turned180.xml"))
    expected = (width - right, height - bottom, width - left, height - top)
    assert all(abs(a - b) <= 3 for a, b in zip(turned, expected, strict=True)), (turned, expected)
    # And a deskewed page's boxes are turned back onto it: near where the skew put the word.
    skewed = first_word_box(harness.result("skew-8.xml"))
    straight = first_word_box(harness.result("upright.xml"))
    assert skewed != straight and abs(skewed[0] - straight[0]) < 250


def test_with_rotation_and_deskew_off_the_page_is_read_as_scanned(harness: Harness) -> None:
    page = samples.render_page(LINES).rotate(180, expand=True)
    save(page, harness.root / "scans" / "upside.png")
    job_id = harness.submit("upside.png", profile="AsScanned")
    harness.cycle("AsScanned")
    assert harness.status(job_id) == ("Completed", "NoError")
    words = " ".join(words_of_alto(harness.result("upside.xml")))
    assert samples.character_error_rate(" ".join(LINES), words) > 0.5


def test_a_german_page_with_a_deu_profile(harness: Harness) -> None:
    page = samples.render_page(samples.GERMAN_LINES, font_size=26, font_file=samples.DEJAVU_SANS)
    save(page, harness.root / "scans" / "brief.png")
    german = harness.submit("brief.png", profile="German")
    harness.cycle("German")
    assert harness.status(german) == ("Completed", "NoError")
    text = " ".join(words_of_alto(harness.result("brief.xml")))
    assert samples.character_error_rate(" ".join(samples.GERMAN_LINES), text) < 0.03
    assert {"Größe", "Straße.", "übernommen.", "Grüßen,"} <= set(text.split())

    # The same page read as English loses its umlauts: the language is what made the difference.
    english = harness.submit("brief.png", PutModel="Overwrite")
    harness.cycle()
    assert harness.status(english) == ("Completed", "NoError")
    text = " ".join(words_of_alto(harness.result("brief.xml")))
    assert samples.character_error_rate(" ".join(samples.GERMAN_LINES), text) > 0.03


def test_a_missing_language_is_the_jobs_recorded_reason(harness: Harness) -> None:
    samples.write_png(harness.root / "scans" / "lettre.png", LINES)
    job_id = harness.submit("lettre.png", profile="Missing")
    harness.cycle("Missing")
    assert harness.status(job_id) == ("Failed", "FailedToPutInputFile")
    reason = harness.services.jobs.show(job_id).error_reason or ""
    assert "no Tesseract language data for fra" in reason
    assert "pip install tessdata-fast-fra" in reason
