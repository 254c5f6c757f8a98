"""Acceptance (issue 37): faults judged by their cause, with the process tree killed from
outside as a host crash or an OOM kill of the parent does. A 20-page PDF survives three kills
of `serve`'s whole process group, and three of a `cora-ocr robot` pool's, and completes with
its own text, once: a take-back because the pool or host went down counts nothing against
the document. Afterwards, once the claim timeout has passed, the robot folders hold nothing of
a process that is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import requests

from cora_ocr.config import load_settings
from cora_ocr.profiles import CLAIMS, PAGES, Profile, Profiles
from cora_ocr.robot import samples
from cora_ocr.robot.crashes import HOST, process_alive
from cora_ocr.robot.render import words_of_alto
from tests.support.processes import Service, run, start_robot
from tests.support.waiting import wait_until

PAGES_TEXT = [
    samples.sample_lines(seed=100 + page, count=4, words_per_line=5) for page in range(20)
]
CLAIM_TIMEOUT = 3


def settings_file(tmp_path: Path, engine: str = "tesseract") -> Path:
    config = tmp_path / "cora-ocr.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[profiles.Default]\n"
        f"dpi = 100\nrobot_processes = 2\nclaim_timeout_seconds = {CLAIM_TIMEOUT}\n"
        f'engine = "{engine}"\n'
    )
    return config


def profile_of(config: Path) -> Profile:
    profile = Profiles.from_settings(load_settings(config, environ={})).get("Default")
    assert profile is not None
    return profile


def pages_read(profile: Profile) -> int:
    return sum(1 for _ in (profile.input_dir / PAGES).glob("*/*.json"))


def upload(service: Service, document: bytes) -> int:
    created = requests.post(
        service.base + "/api/v1/jobs", files={"file": ("twenty.pdf", document)}, timeout=30
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def status(service: Service, job_id: int) -> str:
    return str(requests.get(service.base + f"/api/v1/jobs/{job_id}", timeout=30).json()["status"])


def assert_completed_once_with_its_text(service: Service, job_id: int) -> None:
    wait_until(lambda: status(service, job_id) == "Completed", 180, "the document completes")
    alto = requests.get(service.base + f"/api/v1/jobs/{job_id}/result", timeout=30).content
    expected = " ".join(" ".join(lines) for lines in PAGES_TEXT)
    assert samples.character_error_rate(expected, " ".join(words_of_alto(alto))) < 0.03
    shown = run(service.env, "jobs", "show", str(job_id)).stdout
    assert shown.count("-> completed") == 1, shown
    assert "died" not in shown and "read once more, alone" not in shown, shown
    assert "OCR failed" not in shown


def assert_nothing_left_of_gone_processes(profile: Profile) -> None:
    """Once the claim timeout has passed: no claims or pulse of a process that is gone."""

    def gone_owners() -> list[str]:
        owners = profile.input_dir / CLAIMS
        found = []
        for owner in owners.iterdir() if owners.is_dir() else []:
            host, _, rest = owner.name.rpartition("-")[0].rpartition("-")
            if host != HOST or not rest.isdigit() or not process_alive(int(rest)):
                found.append(owner.name)
        return found

    wait_until(
        lambda: not gone_owners(),
        CLAIM_TIMEOUT * 4,
        f"no folders of gone processes: {gone_owners()}",
    )


@contextlib.contextmanager
def twenty_pages(tmp_path: Path) -> Iterator[bytes]:
    path = samples.write_pdf(tmp_path / "twenty.pdf", PAGES_TEXT)
    yield path.read_bytes()


def test_serve_killed_three_times_while_a_document_is_read(tmp_path: Path) -> None:
    config = settings_file(tmp_path)
    profile = profile_of(config)
    service = Service(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}", config, group=True)
    try:
        with twenty_pages(tmp_path) as document:
            job_id = upload(service, document)
        for kill in range(3):
            done = pages_read(profile)
            wait_until(
                lambda d=done: pages_read(profile) > d, 120, f"pages read before kill {kill}"
            )
            service.kill()  # SIGKILL to the process group: web, worker, pool and robots at once
            service.restart()
        assert_completed_once_with_its_text(service, job_id)
        assert_nothing_left_of_gone_processes(profile)
    finally:
        service.stop()
    assert not (profile.input_dir / CLAIMS).exists() or not any(
        (profile.input_dir / CLAIMS).iterdir()
    )


def test_a_robot_pool_killed_three_times_while_a_document_is_read(tmp_path: Path) -> None:
    """`serve` hands the profile to an external robot: here a `cora-ocr robot` pool of two,
    in a process group of its own, killed whole three times."""
    config = settings_file(tmp_path, engine="external")
    profile = profile_of(config)
    service = Service(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}", config)
    robot: subprocess.Popen[str] | None = None
    try:
        with twenty_pages(tmp_path) as document:
            job_id = upload(service, document)
        for kill in range(4):
            robot = start_robot(config, new_session=True)
            if kill == 3:
                break
            done = pages_read(profile)
            wait_until(
                lambda d=done: pages_read(profile) > d, 120, f"pages read before kill {kill}"
            )
            os.killpg(robot.pid, signal.SIGKILL)
            robot.communicate(timeout=30)
        assert_completed_once_with_its_text(service, job_id)
        assert_nothing_left_of_gone_processes(profile)
    finally:
        if robot is not None and robot.poll() is None:
            os.killpg(robot.pid, signal.SIGTERM)
            robot.communicate(timeout=60)
        service.stop()
