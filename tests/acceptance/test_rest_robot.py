"""A REST job through the real robot (issue 14), on SQLite and PostgreSQL: `cora-ocr serve`
takes an uploaded page, the built-in Tesseract robot recognises it, and the ALTO result
downloads with the text on the page."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from cora_ocr.robot import samples
from cora_ocr.robot.render import words_of_alto
from tests.support.processes import Service


def test_an_uploaded_page_is_recognised_and_its_alto_downloads(
    service: Service,
    tmp_path: Path,
) -> None:
    lines = samples.sample_lines(seed=11, count=3)
    page = samples.write_png(tmp_path / "page.png", lines)
    base = f"http://127.0.0.1:{service.port}/api/v1"
    with page.open("rb") as document:
        created = requests.post(
            f"{base}/jobs",
            files={"file": ("page.png", document)},
            data={"externalContext": "x"},
            timeout=30,
        )
    assert created.status_code == 201, created.text
    job = created.json()
    deadline = time.monotonic() + 120
    while job["status"] in ("Queued", "Throttled", "Processing") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = requests.get(f"{base}/jobs/{job['id']}", timeout=10).json()
    assert job["status"] == "Completed", job
    assert (job["pagesDone"], job["pagesTotal"]) == (1, 1)
    result = requests.get(f"{base}/jobs/{job['id']}/result", timeout=10)
    assert result.status_code == 200 and result.headers["Content-Type"] == "application/xml"
    text = " ".join(words_of_alto(result.content))
    assert samples.character_error_rate(" ".join(lines), text) < 0.02
    shown = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "jobs", "show", str(job["id"])],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "Completed" in shown and "rest" in shown and "@uploads" in shown, shown


def test_an_unreadable_document_ends_as_unsupported_media_type(
    service: Service,
) -> None:
    """PNG by its signature, so accepted at the door; the robot cannot read it."""
    base = f"http://127.0.0.1:{service.port}/api/v1"
    broken = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    created = requests.post(f"{base}/jobs", files={"file": ("a.png", broken)}, timeout=30)
    assert created.status_code == 201, created.text
    job = created.json()
    deadline = time.monotonic() + 60
    while job["status"] in ("Queued", "Processing") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = requests.get(f"{base}/jobs/{job['id']}", timeout=10).json()
    assert (job["status"], job["errorCode"]) == ("UnsupportedMediaType", "FailedToPutInputFile")
    listed = requests.get(f"{base}/jobs", params={"status": "UnsupportedMediaType"}, timeout=10)
    assert [entry["id"] for entry in listed.json()["jobs"]] == [job["id"]]
    errors = requests.get(f"{base}/jobs", params={"status": "ProcessingError"}, timeout=10)
    assert errors.json()["jobs"] == []
