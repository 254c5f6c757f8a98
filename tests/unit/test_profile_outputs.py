"""The profile keys of issue 28 and the pure parts behind them, in-process: outputs,
skip_text, review_below, priority and robot_backlog with their errors; a born-digital page
read from its layer with boxes on the page; word confidences summed up per page and job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cora_ocr.config import Settings
from cora_ocr.errors import SettingsError
from cora_ocr.profiles import Profile, Profiles
from cora_ocr.robot import samples
from cora_ocr.robot.documents import open_document
from cora_ocr.robot.engine import Block, Line, PageResult, Word
from cora_ocr.robot.quality import confidence, read_confidence
from cora_ocr.statuses import Priority


def profile_of(tmp_path: Path, **table: object) -> Profile:
    settings = Settings(data_dir=tmp_path, profiles={"P": table})
    found = Profiles.from_settings(settings).get("P")
    assert found is not None
    return found


def test_outputs_and_their_names(tmp_path: Path) -> None:
    default = profile_of(tmp_path)
    assert (default.outputs, default.output_format, default.skip_text) == (
        ("alto",),
        "alto",
        "auto",
    )
    assert (default.review_below, default.priority) == (None, Priority.normal)
    assert default.backlog == default.robot_processes + 1  # one in hand each, one waiting
    bundle = profile_of(tmp_path, outputs=["alto", "pdf", "txt"], robot_backlog=3)
    assert (bundle.outputs, bundle.output_format, bundle.backlog) == (
        ("alto", "pdf", "text"),
        "alto",
        3,
    )
    assert {
        form: path.name for form, path in bundle.extra_result_paths("7-ab-scan.tif").items()
    } == {
        "pdf": "7-ab-scan.pdf",
        "text": "7-ab-scan.txt",
    }
    assert bundle.confidence_path("7-ab-scan.tif").name == ".7-ab-scan.confidence"
    names = [path.name for path in bundle.answers("7-ab-scan.tif")]
    assert {"7-ab-scan.xml", "7-ab-scan.pdf", "7-ab-scan.txt", ".7-ab-scan.confidence"} <= set(
        names
    )
    assert profile_of(tmp_path, output_format="pdf", outputs=["pdf", "alto"]).outputs == (
        "pdf",
        "alto",
    )


@pytest.mark.parametrize(
    ("key", "table", "says"),
    [
        ("outputs", {"outputs": ["alto", "docx"]}, "'docx' is not one of"),
        ("outputs", {"outputs": []}, "expected a list of formats"),
        ("outputs", {"outputs": ["text", "txt"]}, "each format once"),
        ("output_format", {"output_format": "pdf", "outputs": ["alto", "pdf"]}, "is not the first"),
        (
            "result_extension",
            {"outputs": ["alto", "pdf"], "result_extension": ".pdf"},
            "also the extension",
        ),
        ("skip_text", {"skip_text": "sometimes"}, "is not one of auto, never, always"),
        ("review_below", {"review_below": 101}, "is not a number in 0..100"),
        ("review_below", {"review_below": True}, "is not a number in 0..100"),
        ("priority", {"priority": "urgent"}, "is not one of low, normal, high"),
        ("robot_backlog", {"robot_backlog": -1}, "is not 0 (robot_processes + 1)"),
    ],
)
def test_a_wrong_key_is_named_with_its_reason(
    tmp_path: Path, key: str, table: dict[str, object], says: str
) -> None:
    with pytest.raises(SettingsError, match=rf"profiles\.P\.{key}: .*{re.escape(says)}"):
        profile_of(tmp_path, **table)


def test_a_born_digital_page_is_read_from_its_layer_with_its_boxes(tmp_path: Path) -> None:
    lines = ["Rechnung 2026-117", "Summe: 1.234,56 EUR (Größe)"]
    path = samples.write_born_digital_pdf(
        tmp_path / "invoice.pdf", [lines, [], samples.render_page(lines)]
    )
    with open_document(path, ("application/pdf",), dpi=300) as document:
        page = document.layer(1, "auto")
        assert document.layer(1, "never") is None
        assert document.layer(2, "always") is None  # no text at all
        assert document.layer(3, "auto") is None  # a scan: OCRed
    assert page is not None and page.from_layer
    assert page.text == "Rechnung 2026-117\nSumme: 1.234,56 EUR (Größe)\n"
    assert (page.width, page.height) == (2480, 3508)  # A4 at 300 dpi
    words = [word for block in page.blocks for line in block.lines for word in line.words]
    assert [word.text for word in words] == " ".join(lines).split()
    for word in words:
        left, top, right, bottom = word.box
        assert 0 <= left < right <= page.width and 0 <= top < bottom <= page.height
        assert word.confidence == 1.0
    assert words[0].box[1] < words[2].box[1]  # the second line is lower on the page
    assert page.hocr is not None and "x_wconf 100'>Rechnung</span>" in page.hocr


def test_confidence_per_page_and_job(tmp_path: Path) -> None:
    def page(number: int, *values: float) -> PageResult:
        words = [Word(f"w{i}", (0, 0, 1, 1), value) for i, value in enumerate(values)]
        return PageResult(
            number, 10, 10, "", [Block((0, 0, 1, 1), [Line((0, 0, 1, 1), words)])] if words else []
        )

    summary = confidence([page(1, 0.9, 0.5), page(2), page(3, 1.0)])
    assert summary == {
        "mean": 80.0,
        "min": 50.0,
        "lowWords": 0.3333,
        "pages": [
            {"page": 1, "words": 2, "mean": 70.0, "min": 50.0, "lowWords": 0.5},
            {"page": 2, "words": 0, "mean": None, "min": None, "lowWords": None},
            {"page": 3, "words": 1, "mean": 100.0, "min": 100.0, "lowWords": 0.0},
        ],
    }
    assert confidence([page(1)]) is None  # a blank document: nothing to judge
    written = tmp_path / ".x.confidence"
    written.write_text('{"mean": 80, "min": 50, "lowWords": 0.5, "pages": []}')
    assert read_confidence(written) == {"mean": 80, "min": 50, "lowWords": 0.5, "pages": []}
    for garbled in ('{"mean": 180, "min": 50, "lowWords": 0.5, "pages": []}', "not json", "[]"):
        written.write_text(garbled)
        assert read_confidence(written) is None
    assert read_confidence(tmp_path / "absent") is None
