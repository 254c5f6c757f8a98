"""Real-world documents (issue 24), each through SOAP FileBatch with the real robot: every one
ends as expected (Completed with its text under 2% character errors, an empty result for a
page without words, or refused with a reason that says why), within the page budget, and
straight pages are never turned.

The corpus (tests/support/corpus.py) is made here: blank pages and separators, labels, receipts,
business cards, A4 at 150/300/600 dpi, A3, a 30000 px page, 100- and 200-inch PDF pages,
CCITT, CMYK, palette, alpha, 16-bit, JPEG 2000, a PDF without /Contents, a broken xref, an
encrypted PDF, pages turned by 90/180/270 and skewed by -8..+8 degrees, a truncated image and
a decompression bomb. Store-independent: it runs on SQLite alone."""

from __future__ import annotations

import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from cora_ocr.job_view import status_of
from cora_ocr.robot import samples
from cora_ocr.robot.render import ALTO_NS, result_schema, words_of_alto
from tests.conftest import Harness
from tests.support.corpus import SHAPES, Shape

on_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_the_corpus_has_the_shapes_users_send() -> None:
    names = {shape.name for shape in SHAPES}
    assert len(names) == len(SHAPES) >= 25
    assert {shape.name.rsplit(".", 1)[1] for shape in SHAPES} == {"png", "jpg", "tif", "pdf"}


def _ended_as_expected(harness: Harness, shape: Shape, job_id: int) -> list[str]:
    """What is wrong with how the job of `shape` ended; nothing if it ended as expected."""
    job = harness.services.jobs.show(job_id)
    history = [event.reason or "" for event in job.events]
    wrong = []
    if shape.refused is not None:
        if harness.status(job_id) != ("Failed", "FailedToPutInputFile"):
            wrong.append(f"not refused: {harness.status(job_id)}")
        if shape.refused not in (job.error_reason or ""):
            wrong.append(f"reason {job.error_reason!r} lacks {shape.refused!r}")
        if status_of(job) != "UnsupportedMediaType":
            wrong.append(f"REST status {status_of(job)}, not UnsupportedMediaType")
        return wrong
    if harness.status(job_id) != ("Completed", "NoError"):
        return [f"not Completed: {harness.status(job_id)} {job.error_reason}"]
    result = harness.result(Path(shape.name).stem + ".xml")
    wrong += json_result_problems(result, harness.result(Path(shape.name).stem + ".json"))
    pages = etree.fromstring(result).findall(f".//{{{ALTO_NS}}}Page")
    if len(pages) != shape.pages:
        wrong.append(f"{len(pages)} pages, not {shape.pages}")
    read = " ".join(words_of_alto(result))
    if not shape.text and read:
        wrong.append(f"words on an empty page: {read[:80]!r}")
    if shape.text:
        rate = samples.character_error_rate(" ".join(shape.text), read)
        if rate >= 0.02:
            wrong.append(f"character error rate {rate:.3f}: {read[:120]!r}")
    if shape.note is not None and not any(shape.note in reason for reason in history):
        wrong.append(f"no {shape.note!r} in the history {history}")
    if shape.straight and any("straightened" in reason for reason in history):
        wrong.append(f"a straight page was turned: {history}")
    return wrong


def json_result_problems(alto: bytes, document: bytes) -> list[str]:
    """What is wrong with a JSON result (issue 38): it validates against the schema the
    package ships, and its words are ALTO's words, in order, with the same boxes."""
    found = json.loads(document)
    errors = [error.message for error in Draft202012Validator(result_schema()).iter_errors(found)]
    if errors:
        return [f"JSON result invalid: {errors[:3]}"]
    words = [
        (word["text"], tuple(word["box"]))
        for page in found["pages"]
        for line in page["lines"]
        for word in line["words"]
    ]
    strings = etree.fromstring(alto).iter(f"{{{ALTO_NS}}}String")
    boxes = [
        (
            s.get("CONTENT", ""),
            (
                int(s.get("HPOS", 0)),
                int(s.get("VPOS", 0)),
                int(s.get("HPOS", 0)) + int(s.get("WIDTH", 0)),
                int(s.get("VPOS", 0)) + int(s.get("HEIGHT", 0)),
            ),
        )
        for s in strings
    ]
    return [] if words == boxes else [f"JSON words differ from ALTO's: {words[:3]} {boxes[:3]}"]


@on_sqlite
def test_every_real_world_shape_completes_or_is_refused_with_its_reason(harness: Harness) -> None:
    scans = harness.root / "scans"
    jobs = {}
    for shape in SHAPES:
        (scans / shape.name).write_bytes(shape.make())
        jobs[shape.name] = harness.submit(shape.name, profile="Json")
    harness.cycle("Json")
    wrong = {
        shape.name: problems
        for shape in SHAPES
        if (problems := _ended_as_expected(harness, shape, jobs[shape.name]))
    }
    assert wrong == {}
    assert harness.robot("Json").pages_done == sum(
        shape.pages for shape in SHAPES if shape.refused is None
    )


@on_sqlite
def test_searchable_pdf_of_a_separated_document_keeps_every_page(harness: Harness) -> None:
    separator = next(shape for shape in SHAPES if shape.name == "separator.pdf")
    (harness.root / "scans" / "separator.pdf").write_bytes(separator.make())
    job_id = harness.submit("separator.pdf", profile="Pdf")
    harness.cycle("Pdf")
    assert harness.status(job_id) == ("Completed", "NoError")

    document = pdfium.PdfDocument(harness.result("separator.pdf"))
    try:
        assert len(document) == 3
        texts = [document[n].get_textpage().get_text_range() for n in range(3)]
        # Each page keeps its paper size: A4 (595 x 842 pt), rendered at the profile's 150 dpi.
        sizes = [document[n].get_size() for n in range(3)]
    finally:
        document.close()
    assert texts[1].strip() == ""  # the blank separator: a page with no text layer
    read = " ".join(texts[0].split() + texts[2].split())
    assert samples.character_error_rate(" ".join(separator.text), read) < 0.02
    assert all(abs(w - 595) <= 1.5 and abs(h - 842) <= 1.5 for w, h in sizes), sizes
