"""Acceptance (job isolation): a job's document and result are never confused with another
job's, whatever their names, folders or contents. Through SOAP, with the real robot (real
Tesseract): every output must hold its own document's marker and no other's."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep

from cora_ocr.profiles import Profile
from cora_ocr.robot import samples
from cora_ocr.robot.hotfolder import Robot
from cora_ocr.services import Services
from cora_ocr.statuses import JobState
from tests.conftest import LiveServer
from tests.support.factories import ManualClock, file_batch_args, file_ref, wire_status
from tests.support.robots import robot_files

PROFILE = "Text"  # plain text results: the markers are read straight out of them
EXTERNAL_ROBOT = Path(__file__).parents[1] / "support" / "external_robot.py"


def write_document(path: Path, marker: int) -> Path:
    """A one-page image-only PDF whose text carries a number no other document has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page = samples.render_page([f"case {marker} approved"], width=900, height=260, font_size=40)
    page.convert("RGB").save(path, format="PDF", resolution=150)
    return path


class Trial:
    def __init__(self, services: Services, client: zeep.Client, root: Path) -> None:
        self.services, self.client, self.root = services, client, root
        self.clock = ManualClock()
        self.worker = services.worker(clock=self.clock, name="isolation-worker")
        self.robot = Robot(self.profile)

    @property
    def profile(self) -> Profile:
        profile = self.services.profiles.get(PROFILE)
        assert profile is not None
        return profile

    def submit(self, source: str, output: str, **overrides: object) -> int:
        folder, _, name = source.rpartition("/")
        out_folder, _, out_name = output.rpartition("/")
        args = file_batch_args(
            InputFile=file_ref(name, folder),
            OutPutFile=file_ref(out_name, out_folder),
            OCRProfile=PROFILE,
            **overrides,
        )
        return int(self.client.service.FileBatch(**args))

    def work(self) -> None:
        """The worker places what is queued, the robot recognises, the worker delivers;
        again while the robot finds documents (it is handed its backlog at a time)."""
        while True:
            self.worker.run(burst=True)
            self.clock.advance(1)
            handled = self.robot.run(burst=True)
            self.worker.run(burst=True)
            self.clock.advance(1)
            if not handled:
                return

    def status(self, job_id: int) -> tuple[str, str]:
        return wire_status(self.client, job_id)

    def markers(self, output: str) -> set[int]:
        text = (self.root / output).read_text()
        return {int(number) for number in re.findall(r"\d{5}", text)}

    def robot_files(self) -> list[str]:
        return robot_files(self.profile)


@pytest.fixture
def trial(
    server: LiveServer, services: Services, zeep_client: zeep.Client, connection_root: Path
) -> Iterator[Trial]:
    services.profiles.ensure_folders()
    built = Trial(services, zeep_client, connection_root)
    yield built
    built.robot.close()


def test_a_resubmitted_document_and_another_of_the_same_name(trial: Trial) -> None:
    """X submits in/doc.pdf, Y the same file again (a retrying workflow), then Z a different
    document also named doc.pdf: each gets its own text."""
    write_document(trial.root / "in" / "doc.pdf", 11111)
    write_document(trial.root / "in2" / "doc.pdf", 22222)
    x = trial.submit("in/doc.pdf", "out/x.txt")
    trial.worker.run(burst=True)
    y = trial.submit("in/doc.pdf", "out/y.txt")
    trial.worker.run(burst=True)
    z = trial.submit("in2/doc.pdf", "out/z.txt")
    trial.worker.run(burst=True)
    assert len(list(trial.profile.input_dir.iterdir())) == 3, "three jobs, three documents"
    trial.work()
    for job_id in (x, y, z):
        assert trial.status(job_id) == ("Completed", "NoError")
    assert trial.markers("out/x.txt") == trial.markers("out/y.txt") == {11111}
    assert trial.markers("out/z.txt") == {22222}
    assert trial.robot_files() == []


def test_twenty_documents_named_alike_at_once(trial: Trial) -> None:
    jobs = {}
    for n in range(20):
        write_document(trial.root / f"batch{n}" / "scan.pdf", 30000 + n * 7)
        jobs[n] = trial.submit(f"batch{n}/scan.pdf", f"results/scan{n}.txt")
    trial.work()
    for n, job_id in jobs.items():
        assert trial.status(job_id) == ("Completed", "NoError")
        assert trial.markers(f"results/scan{n}.txt") == {30000 + n * 7}
    assert trial.robot_files() == []


def test_a_corrupt_and_a_good_document_of_the_same_name(trial: Trial) -> None:
    good = write_document(trial.root / "good" / "bad.pdf", 44444).read_bytes()
    (trial.root / "broken").mkdir()
    (trial.root / "broken" / "bad.pdf").write_bytes(good[: len(good) // 3])
    corrupt = trial.submit("broken/bad.pdf", "out/corrupt.txt")
    fine = trial.submit("good/bad.pdf", "out/fine.txt")
    trial.work()
    assert trial.status(corrupt) == ("Failed", "FailedToPutInputFile")
    assert "unreadable PDF" in (trial.services.jobs.show(corrupt).error_reason or "")
    assert trial.status(fine) == ("Completed", "NoError")
    assert trial.markers("out/fine.txt") == {44444}
    assert not (trial.root / "out" / "corrupt.txt").exists()
    assert trial.robot_files() == []


def test_output_file_exists_blocks_nothing_and_retry_completes(trial: Trial) -> None:
    write_document(trial.root / "in" / "letter.pdf", 55555)
    (trial.root / "out").mkdir()
    (trial.root / "out" / "letter.txt").write_text("a previous result")
    first = trial.submit("in/letter.pdf", "out/letter.txt", PutModel="FailIfExists")
    trial.work()
    assert trial.status(first) == ("Failed", "OutputFileExists")
    assert trial.robot_files() == [], "a failed delivery leaves nothing in the robot folders"

    write_document(trial.root / "in" / "letter.pdf", 66666)  # the caller's next letter
    second = trial.submit("in/letter.pdf", "out/second.txt")
    trial.work()
    assert trial.status(second) == ("Completed", "NoError")
    assert trial.markers("out/second.txt") == {66666}

    (trial.root / "out" / "letter.txt").unlink()
    trial.services.jobs.retry(first)
    trial.work()
    assert trial.status(first) == ("Completed", "NoError")
    assert trial.markers("out/letter.txt") == {66666}, "a retry reads the source as it is now"
    assert trial.robot_files() == []


def test_every_final_state_removes_the_jobs_robot_files(trial: Trial) -> None:
    """TimedOut and Aborted with the robot's answer already there, and its progress file."""
    write_document(trial.root / "in" / "a.pdf", 12345)
    timed_out = trial.submit("in/a.pdf", "out/a.txt", TimeOut=5)
    aborted = trial.submit("in/a.pdf", "out/b.txt")
    trial.worker.run(burst=True)
    names = {job_id: trial.services.jobs.show(job_id).robot_name for job_id in (timed_out, aborted)}
    trial.robot.run(burst=True)
    for name in names.values():
        assert name is not None
        trial.profile.progress_path(name).write_text("1 1")
    assert len(trial.robot_files()) == 6  # two results, progress and confidence files
    trial.services.jobs.abort(aborted)
    assert trial.status(aborted) == ("Aborted", "NoError")
    trial.clock.advance(10)
    trial.profile.result_path(names[timed_out] or "").unlink()  # the robot never answered
    trial.worker.run(burst=True)
    assert trial.status(timed_out) == ("Failed", "TimedOut")
    assert trial.robot_files() == []


def test_an_external_robot_following_the_readme_protocol(trial: Trial) -> None:
    """A script that knows only the hot-folder protocol (docs/reference/hot-folder-protocol.md) (no cora_ocr import)."""
    for folder, text in (("a", "first"), ("b", "second"), ("c", "REFUSE")):
        (trial.root / folder).mkdir()
        (trial.root / folder / "scan.txt").write_text(text)
    jobs = {folder: trial.submit(f"{folder}/scan.txt", f"out/{folder}.txt") for folder in "abc"}
    trial.worker.run(burst=True)
    subprocess.run(
        [
            sys.executable,
            str(EXTERNAL_ROBOT),
            str(trial.profile.input_dir),
            str(trial.profile.output_dir),
            trial.profile.result_extension,
        ],
        check=True,
        timeout=60,
    )
    trial.clock.advance(1)
    trial.worker.run(burst=True)
    assert trial.status(jobs["a"]) == trial.status(jobs["b"]) == ("Completed", "NoError")
    assert (trial.root / "out" / "a.txt").read_text() == "FIRST"
    assert (trial.root / "out" / "b.txt").read_text() == "SECOND"
    assert trial.status(jobs["c"]) == ("Failed", "FailedToPutInputFile")
    assert "the script refuses" in (trial.services.jobs.show(jobs["c"]).error_reason or "")
    assert trial.robot_files() == []


def test_jobs_show_names_the_robot_file(trial: Trial) -> None:
    from cora_ocr.report import describe_job

    write_document(trial.root / "in" / "doc.pdf", 77777)
    job_id = trial.submit("in/doc.pdf", "out/doc.txt")
    trial.worker.run(burst=True)
    job = trial.services.jobs.show(job_id)
    assert job.state == JobState.WAITING_FOR_OUTPUT.value
    assert f"robot file:       {job.robot_name}" in describe_job(job)
