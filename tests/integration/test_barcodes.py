"""Barcodes (issue 38) with the real zxing-cpp, on pages the tests make as scanners do: Code
128, Code 39, QR and DataMatrix at 150, 200 and 300 dpi, turned by 0/90/180/270 degrees,
skewed by -3 and +3, made bilevel; every code read with its text, and 40 pages of text without
a code give none. Then a profile that reads barcodes, through the worker and the robot: the
JSON result and ALTO carry them, the job counts them."""

from __future__ import annotations

import itertools
import json

import pytest
from lxml import etree

from cora_ocr.robot import samples
from cora_ocr.robot.barcodes import read_codes
from cora_ocr.robot.render import ALTO_NS
from tests.conftest import Harness
from tests.support.barcodes import code_image, page_with, scanned

CODES = {
    "Code128": "INV-2026-4711",
    "Code39": "CLAIM 0815",
    "QRCode": "https://claims.example.com/c/4711?k=9f3c",
    "DataMatrix": "SEP-BATCH-0042",
}
FORMATS = tuple(CODES)


@pytest.mark.parametrize(("format_name", "dpi"), list(itertools.product(FORMATS, (150, 200, 300))))
def test_every_code_is_read_turned_skewed_and_bilevel(format_name: str, dpi: int) -> None:
    page = page_with(code_image(format_name, CODES[format_name], dpi), dpi)
    missed = []
    for turn, skew, bilevel in itertools.product((0, 90, 180, 270), (-3.0, 3.0), (False, True)):
        found = read_codes(scanned(page, turn, skew, bilevel), FORMATS)
        if [(code.format, code.text) for code in found] != [(format_name, CODES[format_name])]:
            missed.append((turn, skew, bilevel, [(c.format, c.text) for c in found]))
    assert missed == []


def test_pages_without_codes_give_none() -> None:
    for seed in range(40):
        page = samples.render_page(samples.sample_lines(seed=1000 + seed, count=12)).convert("L")
        assert read_codes(page, ("all",)) == [], seed


def test_a_profile_that_reads_barcodes_reports_them(harness: Harness) -> None:
    dpi = 150
    page = page_with(code_image("QRCode", CODES["QRCode"], dpi), dpi)
    page.save(harness.root / "scans" / "claim.png", dpi=(dpi, dpi))
    job_id = harness.submit("claim.png", profile="Codes")
    harness.cycle("Codes")
    assert harness.status(job_id) == ("Completed", "NoError")
    assert harness.services.jobs.show(job_id).barcodes == 1
    found = json.loads(harness.result("claim.json"))
    [code] = found["pages"][0]["barcodes"]
    assert (code["format"], code["text"]) == ("QRCode", CODES["QRCode"])
    left, top, right, bottom = code["box"]
    assert left < page.width // 3 + 20 < right and top < page.height * 2 // 3 + 20 < bottom
    alto = etree.fromstring(harness.result("claim.xml"))
    [tag] = alto.iter(f"{{{ALTO_NS}}}OtherTag")
    [figure] = alto.iter(f"{{{ALTO_NS}}}Illustration")
    assert (tag.get("TYPE"), tag.get("LABEL"), tag.get("VALUE")) == (
        "barcode",
        "QRCode",
        CODES["QRCode"],
    )
    assert figure.get("TAGREFS") == tag.get("ID") and figure.get("TYPE") == "barcode"
