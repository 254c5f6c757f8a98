"""Several outputs per profile, confidence and review (issue 28), through SOAP and REST with
the real robot: `outputs = ["alto", "pdf", "txt"]` delivers three files beside each other or
none, each job carries its word confidences, and a smudged page needs review where a clean
one does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import zeep

from cora_ocr.job_view import PREFIX
from cora_ocr.robot import samples
from cora_ocr.statuses import JobState, Priority
from tests.conftest import Harness, Strict
from tests.support.factories import file_batch_args, file_ref
from tests.support.robots import work_rounds

LINES = samples.sample_lines(seed=7, count=8)


def scan(harness: Harness, name: str, smudged: bool = False) -> str:
    page = samples.render_page(LINES)
    (samples.smudge(page) if smudged else page).save(
        harness.root / "scans" / name, format="PNG", dpi=(150, 150)
    )
    return name


def in_range(confidence: dict[str, Any]) -> None:
    for key in ("mean", "min"):
        assert 0 <= confidence[key] <= 100, confidence
    assert 0 <= confidence["lowWords"] <= 1
    for page in confidence["pages"]:
        assert 0 <= page["mean"] <= 100 and 0 <= page["min"] <= page["mean"]


def test_three_outputs_arrive_beside_each_other_with_confidence_and_review(
    harness: Harness,
) -> None:
    clean = harness.submit(scan(harness, "clean.png"), profile="Bundle")
    smudged = harness.submit(scan(harness, "smudged.png", smudged=True), profile="Bundle")
    flagged = harness.services.metrics.jobs_need_review.labels("Bundle")
    before = flagged._value.get()
    harness.cycle("Bundle")

    for job_id in (clean, smudged):
        assert harness.status(job_id) == ("Completed", "NoError")
    assert harness.robot("Bundle").pages_done == 2  # each page counted once, for all outputs
    results = harness.root / "results"
    assert (
        samples.character_error_rate(
            " ".join(LINES), " ".join((results / "clean.txt").read_text().split())
        )
        < 0.02
    )
    assert (results / "clean.pdf").read_bytes().startswith(b"%PDF-")
    assert b"<alto" in (results / "clean.xml").read_bytes()
    good = harness.services.job_store.get(clean)
    bad = harness.services.job_store.get(smudged)
    assert good is not None and bad is not None
    assert good.result_formats == bad.result_formats == "alto,pdf,text"
    assert good.confidence is not None and bad.confidence is not None
    in_range(good.confidence)
    in_range(bad.confidence)
    assert good.confidence["mean"] > 80 > bad.confidence["mean"]  # review_below = 80
    assert good.confidence["lowWords"] < bad.confidence["lowWords"]
    assert (good.needs_review, bad.needs_review) == (False, True)
    assert flagged._value.get() == before + 1


@pytest.mark.parametrize("put_model", ["", "Rename"])
def test_three_outputs_or_none(harness: Harness, put_model: str) -> None:
    """taken.pdf is already at the output location: FailIfExists delivers nothing (the XML
    put first is taken back), Rename delivers all three under the next free name."""
    results = harness.root / "results"
    results.mkdir(exist_ok=True)
    (results / "taken.pdf").write_bytes(b"someone else's")
    job_id = harness.submit(scan(harness, "taken.png"), profile="Bundle", PutModel=put_model)
    harness.cycle("Bundle")

    assert (results / "taken.pdf").read_bytes() == b"someone else's"
    if put_model == "":
        assert harness.status(job_id) == ("Failed", "OutputFileExists")
        assert sorted(path.name for path in results.glob("taken*")) == ["taken.pdf"]
        job = harness.services.job_store.get(job_id)
        assert job is not None and "taken.pdf already exists" in (job.error_reason or "")
    else:
        assert harness.status(job_id) == ("Completed", "NoError")
        assert sorted(path.name for path in results.glob("taken (1)*")) == [
            "taken (1).pdf",
            "taken (1).txt",
            "taken (1).xml",
        ]


def test_an_output_file_named_like_another_output_is_refused_at_file_batch(
    harness: Harness,
) -> None:
    args = file_batch_args(
        InputFile=file_ref(scan(harness, "clash.png"), "scans"),
        OCRProfile="Bundle",
        OutPutFile=file_ref("clash.pdf", "results"),
    )
    with pytest.raises(zeep.exceptions.Fault) as refused:
        harness.client.service.FileBatch(**args)
    assert "OutPutFile" in refused.value.message and "clash.pdf" in refused.value.message


def rest(strict: Strict) -> str:
    return strict.url.split("/SequenceServices/")[0] + PREFIX


def upload(strict: Strict, auth: Any, path: Path, **form: str) -> requests.Response:
    with path.open("rb") as document:
        return requests.post(
            f"{rest(strict)}/jobs",
            files={"file": (path.name, document)},
            data=form,
            auth=auth,
            timeout=30,
        )


def test_rest_formats_confidence_review_filter_and_priority(strict: Strict, tmp_path: Path) -> None:
    from cora_ocr.robot.hotfolder import Robot

    services = strict.services
    services.profiles.ensure_folders()
    auth = strict.credentials(max_priority=Priority.normal)
    page = samples.render_page(LINES)
    page.save(tmp_path / "clean.png", format="PNG", dpi=(150, 150))
    samples.smudge(page).save(tmp_path / "smudged.png", format="PNG", dpi=(150, 150))

    too_high = upload(strict, auth, tmp_path / "clean.png", profile="Bundle", priority="high")
    assert too_high.status_code == 400 and "priority" in too_high.json()["detail"]
    clean = upload(strict, auth, tmp_path / "clean.png", profile="Bundle", priority="low")
    assert clean.status_code == 201, clean.text
    assert clean.json()["priority"] == "low" and clean.json()["formats"] == []
    smudged = upload(strict, auth, tmp_path / "smudged.png", profile="Bundle")
    assert smudged.json()["priority"] == "normal"

    worker = services.worker(clock=strict.clock, name="rest-worker")
    profile = services.profiles.get("Bundle")
    assert profile is not None
    robot = Robot(profile)
    try:
        work_rounds(worker, robot, strict.clock, 3)
    finally:
        robot.close()
    jobs = {}
    for name, created in (("clean", clean), ("smudged", smudged)):
        jobs[name] = requests.get(
            f"{rest(strict)}/jobs/{created.json()['id']}", auth=auth, timeout=10
        ).json()
        assert jobs[name]["status"] == "Completed", jobs[name]
        assert jobs[name]["formats"] == ["alto", "pdf", "text"]
        in_range(jobs[name]["confidence"])
    assert (jobs["clean"]["needsReview"], jobs["smudged"]["needsReview"]) == (False, True)

    link = f"{rest(strict)}/jobs/{jobs['clean']['id']}/result"
    pdf = requests.get(link, params={"format": "pdf"}, auth=auth, timeout=10)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    text = requests.get(link, params={"format": "txt"}, auth=auth, timeout=10)
    assert text.headers["Content-Type"].startswith("text/plain")
    assert samples.character_error_rate(" ".join(LINES), " ".join(text.text.split())) < 0.02
    first = requests.get(link, auth=auth, timeout=10)
    assert first.headers["Content-Type"] == "application/xml" and b"<alto" in first.content
    missing = requests.get(link, params={"format": "hocr"}, auth=auth, timeout=10)
    assert missing.status_code == 400 and "format" in missing.json()["detail"]

    listed = requests.get(
        f"{rest(strict)}/jobs", params={"needsReview": "true"}, auth=auth, timeout=10
    ).json()["jobs"]
    assert [job["id"] for job in listed] == [jobs["smudged"]["id"]]
    wrong = requests.get(f"{rest(strict)}/jobs", params={"needsReview": "maybe"}, auth=auth)
    assert wrong.status_code == 400 and "needsReview" in wrong.json()["detail"]
    assert services.job_store.get(jobs["clean"]["id"]).state == JobState.COMPLETED.value  # type: ignore[union-attr]
