"""PDF/A (issue 38), judged by Apache PDFBox's Preflight (Debian's libpdfbox2-java, which
.ci/run installs): a `pdfa = "1b"` output of every tests/support/corpus.py shape that yields a
PDF is valid PDF/A-1b; a `pdfa = "2b"` output passes every check the two parts share
(Preflight 2.0 validates part 1: all but 7.11.2, the part the metadata claims) and claims part
2; the PDF/A's text is the searchable PDF's; a document that cannot be made PDF/A (a
born-digital page whose font is not embedded) is delivered as a plain PDF with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest

from cora_ocr.robot import samples
from cora_ocr.robot.engine import TesseractEngine
from cora_ocr.robot.pdfa import convert, preflight
from tests.conftest import Harness
from tests.support.corpus import SHAPES, text_pdf

on_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
needs_preflight = pytest.mark.skipif(
    not (shutil.which("java") and Path("/usr/share/java/preflight.jar").exists()),
    reason="needs Debian's libpdfbox2-java (.ci/run installs it)",
)


def history(harness: Harness, job_id: int) -> str:
    return " | ".join(event.reason or "" for event in harness.services.jobs.show(job_id).events)


@needs_preflight
@on_sqlite
def test_every_corpus_shape_that_yields_a_pdf_is_valid_pdfa_1b(harness: Harness) -> None:
    scans = harness.root / "scans"
    jobs = {}
    for shape in SHAPES:
        if shape.refused is None:
            (scans / shape.name).write_bytes(shape.make())
            jobs[shape.name] = harness.submit(shape.name, profile="Archive")
    harness.cycle("Archive")
    invalid = {}
    for name, job_id in jobs.items():
        assert harness.status(job_id) == ("Completed", "NoError"), (name, history(harness, job_id))
        path = harness.root / "results" / (Path(name).stem + ".pdf")
        valid, errors = preflight(path)
        if not valid or harness.services.jobs.show(job_id).pdfa is not True:
            invalid[name] = [*errors, history(harness, job_id)]
    assert invalid == {}


def searchable(tmp_path: Path) -> bytes:
    engine = TesseractEngine(("eng",))
    try:
        pages = []
        for seed in (31, 32):
            page = samples.render_page(samples.sample_lines(seed=seed, count=8)).convert("L")
            page.info["dpi"] = (150, 150)
            pages.append(page)
        engine.searchable_pdf(iter(pages), 150, tmp_path)
    finally:
        engine.close()
    return (tmp_path / "result.pdf").read_bytes()


def texts(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    try:
        return [document[n].get_textpage().get_text_range() for n in range(len(document))]
    finally:
        document.close()


@needs_preflight
def test_part_2b_passes_the_checks_both_parts_share_and_claims_part_2(tmp_path: Path) -> None:
    source = searchable(tmp_path)
    made = convert(source, "2b", "claim.pdf", "cora_ocr")
    (tmp_path / "2b.pdf").write_bytes(made)
    valid, errors = preflight(tmp_path / "2b.pdf")
    assert not valid and errors == ["7.11.2 : Error on MetaData, part must be 1"]
    with pikepdf.open(tmp_path / "2b.pdf") as pdf:
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("2", "B")
        assert pdf.trailer.ID and pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        assert str(pdf.docinfo["/Title"]) == meta["dc:title"] == "claim.pdf"


def test_the_pdfa_text_is_the_searchable_pdfs(tmp_path: Path) -> None:
    source = searchable(tmp_path)
    for part in ("1b", "2b"):
        assert texts(convert(source, part, "a.pdf", "cora_ocr")) == texts(source)


@on_sqlite
def test_a_document_that_cannot_be_made_pdfa_is_delivered_as_a_plain_pdf(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A born-digital page in Helvetica, not embedded, on a host without Ghostscript (which
    would embed it): it stays as it is, so the document is no PDF/A."""
    which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: None if name == "gs" else which(name, *a, **k)
    )
    lines = [["Invoice 4711 from Acme", "Total due 1234 EUR"]]
    (harness.root / "scans" / "born.pdf").write_bytes(text_pdf(tuple(lines[0])))
    job_id = harness.submit("born.pdf", profile="Archive2")
    harness.cycle("Archive2")
    assert harness.status(job_id) == ("Completed", "NoError")
    said = history(harness, job_id)
    assert "pdfa: false (page 1: its font Helvetica is not embedded, and Ghostscript" in said, said
    assert harness.services.jobs.show(job_id).pdfa is False
    delivered = harness.result("born.pdf")
    with pikepdf.open(harness.root / "results" / "born.pdf") as pdf:
        assert "/OutputIntents" not in pdf.Root  # a plain searchable PDF
    assert texts(delivered)[0].split() == " ".join(lines[0]).split()
