"""Acceptance (issue 37): `cora-ocr serve` as an operator runs it, with every profile its
settings name: the built-in robot reads each of them (one pool, in turns), a profile left to
an external robot that is not running is said to be silent (/readyz, the jobs page, `jobs
list`, /metrics) once a job waits for it, and a license's single job is not stuck behind
another license's crowd on its way through the robot."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from cora_ocr.config import load_settings
from cora_ocr.robot import samples
from cora_ocr.robot.render import result_schema
from cora_ocr.services import build_services
from cora_ocr.store import Store
from cora_ocr.store.job_store import JobStore
from cora_ocr.store.migrate import upgrade
from tests.support.processes import Service, run
from tests.support.waiting import wait_until

UNDER_WAY = ("Queued", "Throttled", "Processing")  # REST statuses before a job's end


def settings_file(tmp_path: Path, profiles: str) -> Path:
    config = tmp_path / "cora-ocr.toml"
    config.write_text(profiles)
    return config


def licensed(tmp_path: Path, names: list[str]) -> tuple[str, dict[str, tuple[str, str]]]:
    """The database of a serve about to start, migrated, with a license and app per name."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    settings = load_settings(environ={"CORA_OCR_DATABASE_URL": url})
    store = Store(url)
    upgrade(store.engine)
    licensing = build_services(settings, store).licensing
    credentials = {}
    for name in names:
        license_id = licensing.create_license(name, request_quota=1_000_000, page_quota=100_000)
        credentials[name] = (license_id, licensing.create_app(license_id, "intake"))
    store.dispose()
    return url, credentials


@pytest.fixture
def page(tmp_path: Path) -> bytes:
    return samples.write_png(
        tmp_path / "page.png", samples.sample_lines(seed=5, count=2)
    ).read_bytes()


def upload(
    service: Service,
    document: bytes,
    auth: tuple[str, str] | None = None,
    name: str = "page.png",
    **fields: str,
) -> int:
    created = requests.post(
        service.base + "/api/v1/jobs",
        files={"file": (name, document)},
        data=fields,
        auth=auth,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def job(service: Service, job_id: int, auth: tuple[str, str] | None = None) -> dict[str, object]:
    answer = requests.get(service.base + f"/api/v1/jobs/{job_id}", auth=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def finished(
    service: Service, job_id: int, seconds: float = 120, auth: tuple[str, str] | None = None
) -> dict[str, object]:
    wait_until(
        lambda: job(service, job_id, auth)["status"] not in UNDER_WAY, seconds, f"job {job_id} ends"
    )
    return job(service, job_id, auth)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


def test_serve_reads_every_profile_its_settings_name(
    tmp_path: Path, page: bytes, serving: list[Service]
) -> None:
    config = settings_file(
        tmp_path,
        """
[profiles.Default]
dpi = 150
robot_processes = 2
[profiles.Multi]
dpi = 150
outputs = ["alto", "pdf", "txt", "json"]
[profiles.NoSkip]
dpi = 150
skip_text = "never"
[profiles.Review]
dpi = 150
review_below = 99.5
""",
    )
    service = Service(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}", config)
    serving.append(service)
    jobs = {name: upload(service, page, profile=name) for name in ("Multi", "NoSkip", "Review")}
    for name, job_id in jobs.items():
        ended = finished(service, job_id)
        assert ended["status"] == "Completed", (name, ended)
    assert job(service, jobs["Multi"])["formats"] == ["alto", "pdf", "text", "json"]
    result = requests.get(
        service.base + f"/api/v1/jobs/{jobs['Multi']}/result", params={"format": "json"}, timeout=30
    )
    assert result.status_code == 200 and result.headers["Content-Type"] == "application/json"
    found = result.json()
    assert list(Draft202012Validator(result_schema()).iter_errors(found)) == []
    assert [page["source"] for page in found["pages"]] == ["ocr"]
    assert job(service, jobs["Review"])["needsReview"] is True
    ready = requests.get(service.base + "/readyz", timeout=10).json()
    assert {ready["robots"][name]["state"] for name in jobs} == {"seen"}


def test_a_profile_whose_robot_is_silent_is_said_to_be_so_once_a_job_waits(
    tmp_path: Path, page: bytes, serving: list[Service]
) -> None:
    config = settings_file(
        tmp_path,
        """
admin_password = "a-long-admin-password"
[profiles.Default]
dpi = 150
[profiles.Scanner]
engine = "external"
claim_timeout_seconds = 2
""",
    )
    service = Service(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}", config)
    serving.append(service)
    ready = requests.get(service.base + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text  # nothing waits for the Scanner yet
    waiting = upload(service, page, profile="Scanner")
    wait_until(
        lambda: requests.get(service.base + "/readyz", timeout=10).status_code == 503,
        30,
        "/readyz says the Scanner's robot is silent",
    )
    robots = requests.get(service.base + "/readyz", timeout=10).json()["robots"]
    assert robots["Scanner"]["state"] == "silent" and robots["Scanner"]["waiting"] == 1
    assert robots["Default"]["state"] == "seen"
    listed = run(service.env, "jobs", "list").stdout
    line = next(row for row in listed.splitlines() if row.split()[:1] == [str(waiting)])
    assert "no robot" in line
    metrics = requests.get(service.base + "/metrics", timeout=10).text
    assert 'cora_ocr_jobs_waiting_on_silent_robot{profile="Scanner"} 1.0' in metrics
    with requests.Session() as browser:
        signed = browser.post(
            service.base + "/admin/login",
            data={"user": "admin", "password": "a-long-admin-password"},
            timeout=10,
        )
        assert signed.status_code == 200, signed.text
        assert "no robot" in browser.get(service.base + "/admin/", timeout=10).text


def test_a_licenses_single_job_does_not_wait_behind_another_licenses_crowd(
    tmp_path: Path, page: bytes, serving: list[Service]
) -> None:
    """120 one-page jobs of license A, then one of license B, through serve's real worker and
    robot (two processes): B's job completes before A's fifth."""
    url, credentials = licensed(tmp_path, ["A", "B"])
    config = settings_file(tmp_path, "[profiles.Default]\ndpi = 150\nrobot_processes = 2\n")
    service = Service(tmp_path, url, config)
    serving.append(service)
    # The crowd arrives at once (eight callers in parallel), as a batch import does.
    with ThreadPoolExecutor(8) as callers:
        crowd = list(
            callers.map(
                lambda n: upload(service, page, credentials["A"], name=f"a{n}.png"), range(120)
            )
        )
    single = upload(service, page, credentials["B"], name="b.png")
    ended = finished(service, single, 300, credentials["B"])
    assert ended["status"] == "Completed", ended
    store = Store(url)
    try:
        jobs = JobStore(store)
        b_ended = jobs.get(single).finished_at  # type: ignore[union-attr]
        before = [
            record.id
            for record in (jobs.get(job_id) for job_id in crowd)
            if record is not None
            and record.finished_at is not None
            and record.finished_at <= b_ended
        ]
    finally:
        store.dispose()
    assert len(before) < 5, f"B completed after {len(before)} of A's jobs"
