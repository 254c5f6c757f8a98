"""The built-in OCR robot end to end: SOAP FileBatch -> worker -> real Tesseract -> result."""

from __future__ import annotations

import pytest
from lxml import etree

from cora_ocr.robot import samples
from cora_ocr.robot.render import ALTO_NS, words_of_alto
from tests.conftest import Harness

PAGE = samples.sample_lines(seed=7, count=12)
PDF_PAGES = [samples.sample_lines(seed=s, count=12) for s in (11, 12, 13)]


def test_png_and_three_page_pdf_are_recognised(harness: Harness) -> None:
    samples.write_png(harness.root / "scans" / "letter.png", PAGE)
    samples.write_pdf(harness.root / "scans" / "claim.pdf", PDF_PAGES)
    png_job, pdf_job = harness.submit("letter.png"), harness.submit("claim.pdf")
    harness.cycle()
    assert harness.status(png_job) == ("Completed", "NoError")
    assert harness.status(pdf_job) == ("Completed", "NoError")

    png_words = words_of_alto(harness.result("letter.xml"))
    assert samples.character_error_rate(" ".join(PAGE), " ".join(png_words)) < 0.02
    alto = etree.fromstring(harness.result("claim.xml"))
    pages = alto.findall(f".//{{{ALTO_NS}}}Page")
    assert [p.get("PHYSICAL_IMG_NR") for p in pages] == ["1", "2", "3"]
    for page, lines in zip(pages, PDF_PAGES, strict=True):
        words = [s.get("CONTENT") for s in page.iter(f"{{{ALTO_NS}}}String")]
        assert samples.character_error_rate(" ".join(lines), " ".join(words)) < 0.02
    assert {"invoice", "payment"} & set(words_of_alto(harness.result("claim.xml")))

    for job_id, total in ((png_job, 1), (pdf_job, 3)):
        job = harness.services.jobs.show(job_id)
        assert (job.pages_done, job.pages_total) == (total, total)
    assert list(harness.profile("Default").output_dir.iterdir()) == []


def test_bad_documents_fail_cleanly_and_the_robot_goes_on(harness: Harness) -> None:
    scans = harness.root / "scans"
    good = samples.write_pdf(scans / "good.pdf", [PAGE]).read_bytes()
    (scans / "corrupt.pdf").write_bytes(good[: len(good) // 3])  # truncated: no xref, no pages
    (scans / "setup.pdf").write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 4000)  # an .exe
    samples.write_png(scans / "after.png", PAGE)
    corrupt, exe, after = (harness.submit(n) for n in ("corrupt.pdf", "setup.pdf", "after.png"))
    harness.cycle()
    assert harness.status(corrupt) == ("Failed", "FailedToPutInputFile")
    assert harness.status(exe) == ("Failed", "FailedToPutInputFile")
    assert harness.status(after) == ("Completed", "NoError")
    assert "unreadable PDF" in (harness.services.jobs.show(corrupt).error_reason or "")
    assert "not a supported document type" in (harness.services.jobs.show(exe).error_reason or "")
    assert list(harness.profile("Default").input_dir.iterdir()) == []
    assert list(harness.profile("Default").output_dir.iterdir()) == []


def test_multi_page_tiff_and_jpeg(harness: Harness) -> None:
    samples.write_tiff(harness.root / "scans" / "fax.tif", [PAGE, PDF_PAGES[0]])
    samples.render_page(PAGE).convert("RGB").save(harness.root / "scans" / "photo.jpg", quality=92)
    tiff, jpeg = harness.submit("fax.tif"), harness.submit("photo.jpg")
    harness.cycle()
    assert harness.status(tiff) == harness.status(jpeg) == ("Completed", "NoError")
    assert harness.services.jobs.show(tiff).pages_total == 2
    words = " ".join(words_of_alto(harness.result("photo.xml")))
    assert samples.character_error_rate(" ".join(PAGE), words) < 0.02


@pytest.mark.parametrize(
    ("profile", "extension"), [("Text", ".txt"), ("Hocr", ".hocr"), ("Pdf", ".pdf")]
)
def test_output_formats(harness: Harness, profile: str, extension: str) -> None:
    samples.write_png(harness.root / "scans" / "page.png", PAGE)
    job_id = harness.submit("page.png", profile=profile)
    harness.cycle(profile)
    assert harness.status(job_id) == ("Completed", "NoError")
    data = harness.result("page" + extension)
    if profile == "Text":
        text = data.decode()
    elif profile == "Hocr":
        root = etree.fromstring(data)
        text = " ".join(e.text or "" for e in root.iter() if e.get("class") == "ocrx_word")
    else:
        import pypdfium2 as pdfium

        assert data.startswith(b"%PDF-")
        pdf = pdfium.PdfDocument(data)
        text = pdf[0].get_textpage().get_text_range()
    assert samples.character_error_rate(" ".join(PAGE), text) < 0.02


def test_progress_is_stored_while_the_robot_works(harness: Harness) -> None:
    samples.write_pdf(harness.root / "scans" / "long.pdf", PDF_PAGES)
    job_id = harness.submit("long.pdf")
    harness.worker.run(burst=True)
    harness.clock.advance(1)
    # What the robot writes after its first page (as it does between pages).
    name = harness.services.jobs.show(job_id).robot_name
    assert name is not None and name.endswith("-long.pdf")
    harness.profile("Default").progress_path(name).write_text("1 3")
    harness.worker.run(burst=True)
    job = harness.services.jobs.show(job_id)
    assert (job.state, job.pages_done, job.pages_total) == ("waiting_for_output", 1, 3)
    from cora_ocr.report import describe_job

    lines = describe_job(job)
    assert "status:           WaitingForOutput (waiting_for_output)" in lines
    assert "pages:            1/3" in lines
