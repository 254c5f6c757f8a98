"""OCR that holds up on real scans (issue 15), through SOAP with the real robot: pages turned
by 90/180/270 and skewed, German with a `deu` profile, a language that is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_profiles_check_names_a_missing_language(tmp_path: Path) -> None:
    config = tmp_path / "cora.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n'
        "[profiles.Default]\n"
        "[profiles.French]\n"
        'languages = ["eng", "fra"]\n'
        "[profiles.NoOsd]\n"
        f'tessdata_dir = "{tmp_path}"\n'
        "rotate_pages = false\n"
    )
    for profile in ("Default", "French", "NoOsd"):
        for folder in ("in", "out"):
            (tmp_path / "robot" / profile / folder).mkdir(parents=True)
    env = {**os.environ, "CORA_OCR_CONFIG": str(config)}
    check = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "profiles", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1
    lines = dict(line.split(": ", 1) for line in check.stdout.splitlines())
    assert lines["Default"] == "ok"
    assert lines["French"].startswith("no Tesseract language data for fra in ")
    assert "pip install tessdata-fast-fra" in lines["French"]
    # rotate_pages off: no need for osd, but eng is not in that tessdata_dir.
    assert lines["NoOsd"].startswith(f"no Tesseract language data for eng in {tmp_path}")


@pytest.mark.parametrize("bad", ['languages = ["de-DE"]', "languages = []", "deskew = 1"])
def test_bad_language_settings_are_refused_with_the_field(tmp_path: Path, bad: str) -> None:
    config = tmp_path / "cora.toml"
    config.write_text(f"[profiles.Default]\n{bad}\n")
    check = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "profiles", "list"],
        env={**os.environ, "CORA_OCR_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode != 0
    field = bad.split(" ")[0]
    assert f"profiles.Default.{field}" in check.stderr
