"""Born-digital pages (issue 28), through SOAP with the real robot: a PDF's own text layer is
read instead of OCR where it covers the page (profile `skip_text`), its text comes back
exactly, a mixed PDF gets both, and every output has the same shape either way."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from cora_ocr.robot import samples
from cora_ocr.robot.engine import TesseractEngine
from cora_ocr.robot.render import words_of_alto
from tests.conftest import Harness
from tests.support.corpus import type3_unmapped_pdf

INVOICE = [
    ["Rechnung 2026-117 vom 4. Dezember 2026", "Summe: 1.234,56 EUR (Größe XL)"],
    ["Zahlbar bis 31.12.2026 ohne Abzug", "IBAN DE02 1203 0000 0000 2020 51"],
    ["Seite 3: Bedingungen", "Gerichtsstand ist Köln"],
]


def history(harness: Harness, job_id: int) -> str:
    job = harness.services.job_store.get(job_id, with_events=True)
    assert job is not None
    return " | ".join(event.reason or "" for event in job.events)


def test_a_born_digital_pdf_is_read_from_its_text_layer_exactly(harness: Harness) -> None:
    samples.write_born_digital_pdf(harness.root / "scans" / "invoice.pdf", INVOICE)
    layered = harness.submit("invoice.pdf")
    as_text = harness.submit("invoice.pdf", profile="Text")
    harness.cycle()
    harness.cycle("Text")

    assert harness.status(layered) == ("Completed", "NoError")
    words = [word for page in INVOICE for line in page for word in line.split()]
    assert words_of_alto(harness.result("invoice.xml")) == words
    assert "3 of 3 pages read from the document's text layer" in history(harness, layered)
    text = harness.result("invoice.txt").decode()
    assert text.split("\f") == ["".join(f"{line}\n" for line in page) for page in INVOICE]
    assert harness.status(as_text) == ("Completed", "NoError")


def test_a_mixed_pdf_gets_its_text_page_from_the_layer_and_its_scan_ocred(
    harness: Harness,
) -> None:
    lines = samples.sample_lines(seed=21, count=6)
    pages = [INVOICE[0], samples.render_page(lines)]
    samples.write_born_digital_pdf(harness.root / "scans" / "mixed.pdf", pages)
    job_id = harness.submit("mixed.pdf", profile="Bundle")
    harness.cycle("Bundle")

    assert harness.status(job_id) == ("Completed", "NoError")
    assert "1 of 2 pages read from the document's text layer" in history(harness, job_id)
    first, second = harness.result("mixed.txt").decode().split("\f")
    assert first == "".join(f"{line}\n" for line in INVOICE[0])
    assert samples.character_error_rate(" ".join(lines), " ".join(second.split())) < 0.02
    # The searchable PDF: the text page as it was, the scan with Tesseract's text under it.
    pdf = pdfium.PdfDocument(str(harness.root / "results" / "mixed.pdf"))
    try:
        assert len(pdf) == 2
        texts = [pdf[index].get_textpage().get_text_range() for index in range(2)]
    finally:
        pdf.close()
    assert texts[0].split() == " ".join(INVOICE[0]).split()
    assert samples.character_error_rate(" ".join(lines), " ".join(texts[1].split())) < 0.05


def test_skip_text_never_ocrs_every_page(harness: Harness) -> None:
    samples.write_born_digital_pdf(harness.root / "scans" / "ocr-me.pdf", INVOICE[:1])
    job_id = harness.submit("ocr-me.pdf", profile="NoLayers")
    harness.cycle("NoLayers")
    assert harness.status(job_id) == ("Completed", "NoError")
    assert "text layer" not in history(harness, job_id)
    read = " ".join(words_of_alto(harness.result("ocr-me.xml")))
    assert samples.character_error_rate(" ".join(INVOICE[0]), read) < 0.05


def test_a_scan_with_an_old_ocr_layer_is_ocred_again_in_auto(
    harness: Harness, tmp_path: Path
) -> None:
    """A full-page image with invisible text over it (a searchable scan): its layer may be
    a poor OCR's, so `auto` reads the page again."""
    lines = samples.sample_lines(seed=8, count=4)
    searchable = harness.root / "scans" / "searchable.pdf"
    engine = TesseractEngine(("eng",))
    try:
        engine.searchable_pdf([samples.render_page(lines)], 150, tmp_path)
    finally:
        engine.close()
    searchable.write_bytes((tmp_path / "result.pdf").read_bytes())
    job_id = harness.submit("searchable.pdf")
    harness.cycle()
    assert harness.status(job_id) == ("Completed", "NoError")
    assert "text layer" not in history(harness, job_id)


def test_a_layer_of_a_font_without_a_unicode_map_is_not_trusted(harness: Harness) -> None:
    """Issue 37: a Type 3 font without ToUnicode yields control characters; under auto the
    page is read by OCR (it used to fail its document in the ALTO writer), and the history
    says why; under always the characters XML cannot hold are removed, and it says so."""
    lines = ("Invoice 4711 from Acme", "Total due 1234 EUR")
    (harness.root / "scans" / "type3.pdf").write_bytes(type3_unmapped_pdf(lines))
    auto = harness.submit("type3.pdf")
    harness.cycle()
    assert harness.status(auto) == ("Completed", "NoError")
    said = history(harness, auto)
    assert "page 1: its text layer was not used" in said and "read by OCR" in said
    assert "pages read from the document's text layer" not in said
    read = " ".join(words_of_alto(harness.result("type3.xml")))
    assert samples.character_error_rate(" ".join(lines), read[: len(" ".join(lines))]) < 0.1

    always = harness.submit("type3.pdf", profile="Layers", PutModel="Overwrite")
    harness.cycle("Layers")
    assert harness.status(always) == ("Completed", "NoError")
    said = history(harness, always)
    assert "characters XML cannot hold were removed from its text layer" in said
    assert "1 of 1 pages read from the document's text layer" in said
    assert words_of_alto(harness.result("type3.xml"))[:4] == ["Invoice", "4711", "from", "Acme"]
