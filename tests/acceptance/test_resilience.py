"""Acceptance (nothing stops silently), in-process parts: a step that meets transient trouble
is retried and then failed with its reason; a queued job no worker takes fails TimedOut; a full
disk leaves no temp file; the robot rides out vanished folders; `serve` restarts a loop that
died. (Real database outages against real processes: tests/acceptance/test_outages.py.)"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import zeep

from cora_ocr.cli.run import Serve
from cora_ocr.config import DEFAULT_CONNECTION, Settings
from cora_ocr.jobs import NOT_STARTED
from cora_ocr.robot import samples
from cora_ocr.robot.hotfolder import Robot
from cora_ocr.services import Services
from cora_ocr.statuses import JobState
from cora_ocr.worker import steps
from tests.conftest import Pipeline, RunService
from tests.support.factories import ManualClock, activity_header, file_batch_args, file_ref
from tests.support.waiting import wait_until


def flaky(monkeypatch: pytest.MonkeyPatch, state: JobState, failures: int) -> list[int]:
    """The step of `state` raises a transient OSError its first `failures` times."""
    real, calls = steps.STEPS[state], []

    def step(ctx: steps.StepContext, job: object) -> steps.Outcome:
        calls.append(1)
        if len(calls) <= failures:
            raise OSError(5, "Input/output error (injected)")
        return real(ctx, job)  # type: ignore[arg-type]

    monkeypatch.setitem(steps.STEPS, state, step)
    return calls


def test_a_step_with_transient_trouble_is_retried(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = flaky(monkeypatch, JobState.WAITING_FOR_OUTPUT, failures=2)
    pipeline.source()
    job_id = pipeline.submit()
    pipeline.drain()
    job = pipeline.job(job_id)
    assert (job.state, job.retries) == ("waiting_for_output", 1)
    assert "OSError: [Errno 5] Input/output error (injected)" in (job.error_reason or "")
    pipeline.robot.process_all()
    for _ in range(4):  # backoff: 1 s, then 2 s (of the test's clock)
        pipeline.clock.advance(1)
        pipeline.drain()
    assert pipeline.status(job_id) == ("Completed", "NoError")
    job = pipeline.job(job_id)
    assert (job.retries, job.error_reason, len(calls)) == (0, None, 3)


def test_a_step_failing_past_the_limit_fails_the_job_with_the_reason(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit = pipeline.services.settings.max_attempts
    calls = flaky(monkeypatch, JobState.WAITING_FOR_OUTPUT, failures=100)
    pipeline.source()
    job_id = pipeline.submit()
    for _ in range(limit + 2):
        pipeline.drain()
        pipeline.clock.advance(120)  # past any backoff
    assert pipeline.status(job_id) == ("Failed", "InternalError")
    assert len(calls) == limit, "max_attempts tries, no more"
    reason = pipeline.job(job_id).error_reason or ""
    assert f"the waiting_for_output step failed {limit} times in a row" in reason
    assert "Input/output error (injected)" in reason
    assert pipeline.robot_files() == []


@pytest.fixture
def clocked(running_service: RunService) -> tuple[zeep.Client, ManualClock, str]:
    """A server whose use cases follow a clock the test moves."""
    running = running_service(clock=ManualClock())
    return zeep.Client(running.url + "?wsdl"), running.clock, running.url


def test_a_job_no_worker_takes_fails_timed_out_after_its_timeout(
    clocked: tuple[zeep.Client, ManualClock, str], services: Services
) -> None:
    client, clock, url = clocked
    job_id = client.service.FileBatch(**file_batch_args(TimeOut=30))
    header = {"ActivityMetadata": activity_header(job_id)}
    clock.advance(29)
    assert client.service.GetStatus(_soapheaders=header).Status == "Queued"
    clock.advance(2)  # the deadline is a whole second, rounded up
    answer = client.service.GetStatus(_soapheaders=header)
    assert (answer.Status, answer.ErrorCode) == ("Failed", "TimedOut")
    job = services.jobs.show(job_id)
    assert (job.error_reason, job.events[-1].actor) == (NOT_STARTED, "web")

    other = client.service.FileBatch(**file_batch_args(TimeOut=30))
    clock.advance(31)
    http_get = requests.get(f"{url}/GetStatus", params={"MasterWorkflowInstanceId": other})
    assert "<Status>Failed</Status>" in http_get.text
    assert "<ErrorCode>TimedOut</ErrorCode>" in http_get.text


def test_a_worker_times_out_a_job_that_waited_too_long_to_start(
    pipeline: Pipeline,
) -> None:
    pipeline.source()
    job_id = pipeline.submit(TimeOut=10)
    pipeline.clock.advance(11)  # the workers were busy elsewhere
    pipeline.worker.run(burst=True)
    job = pipeline.job(job_id)
    assert (job.state, job.error_code, job.error_reason) == ("failed", "TimedOut", NOT_STARTED)
    assert job.events[-1].actor == "test-worker"
    assert pipeline.robot_files() == []


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "64k") -> Iterator[Path]:
    """A real file system that fills up: a tmpfs of `size` mounted at `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_output_disk_fails_the_delivery_and_leaves_no_temp_file(
    pipeline: Pipeline,
) -> None:
    pipeline.source(data=b"x" * 200_000)  # the simulated robot's result holds the document
    with small_disk(pipeline.root / "full") as full:
        job_id = pipeline.submit(OutPutFile=file_ref("scan.xml", "full"))
        pipeline.drain()
        pipeline.robot.process_all()
        pipeline.drain()
        assert pipeline.status(job_id) == ("Failed", "FailedToPutOutputFile")
        assert "No space left on device" in (pipeline.job(job_id).error_reason or "")
        assert list(full.iterdir()) == [], "no .part file, no half result"
    assert pipeline.robot_files() == []


def test_a_full_robot_disk_fails_the_input_and_leaves_no_temp_file(
    pipeline: Pipeline,
) -> None:
    pipeline.source(data=b"x" * 200_000)
    with small_disk(pipeline.profile.input_dir):
        job_id = pipeline.submit()
        pipeline.drain()
        assert pipeline.status(job_id) == ("Failed", "FailedToPutInputFile")
        assert "No space left on device" in (pipeline.job(job_id).error_reason or "")
        assert pipeline.robot_files() == []


def test_the_robot_survives_its_folders_vanishing(
    pipeline: Pipeline,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both folders removed while jobs wait, and in the way of being made again (a file where
    their parent was): the robot keeps running, the jobs fail at once with the reason, and
    once the folders can be made again a new job completes, nobody restarting anything."""
    profile = pipeline.profile
    parent = profile.input_dir.parent
    assert parent == profile.output_dir.parent
    (pipeline.root / "in").mkdir()
    samples.write_png(pipeline.root / "in" / "scan.png", samples.sample_lines(seed=3, count=2))
    waiting = [pipeline.submit(), pipeline.submit()]
    pipeline.worker.run(burst=True)
    assert [pipeline.job(j).state for j in waiting] == ["waiting_for_output"] * 2

    shutil.rmtree(parent)
    parent.write_bytes(b"not a folder")  # e.g. a share that is not mounted
    robot = Robot(profile, idle_seconds=0.05)
    thread = threading.Thread(target=robot.run, daemon=True)
    try:
        with caplog.at_level(logging.INFO, logger="cora_ocr.robot.hotfolder"):
            thread.start()
            pipeline.clock.advance(1)
            pipeline.worker.run(burst=True)
            for job_id in waiting:
                job = pipeline.job(job_id)
                assert (job.state, job.error_code) == ("failed", "FailedToPutInputFile")
                assert f"robot input folder unavailable: {profile.input_dir}" in (
                    job.error_reason or ""
                )
            time.sleep(0.5)  # the robot keeps trying meanwhile
            assert thread.is_alive()

            parent.unlink()
            wait_until(profile.output_dir.is_dir, what="the robot makes its folders again")
            job_id = pipeline.submit()

            def completed() -> bool:
                pipeline.worker.run(burst=True)
                pipeline.clock.advance(1)
                return pipeline.job(job_id).state == "completed"

            wait_until(completed, what="a new job completes")
        warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
        assert any("available again" in r.getMessage() for r in caplog.records)
    finally:
        robot.stop()
        thread.join(timeout=30)
        robot.close()
        with contextlib.suppress(OSError):
            parent.unlink()
        pipeline.services.profiles.ensure_folders()


def test_serve_restarts_a_worker_thread_that_died(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = tmp_path / "files"
    settings = Settings(
        data_dir=tmp_path / "data",
        port=0,
        connections={DEFAULT_CONNECTION: files},
        allow_anonymous=True,
        require_https=False,
        poll_seconds=0.1,
    )
    serve = Serve(settings)
    real_run, deaths = serve.worker.run, []

    def dies_once(burst: bool = False) -> int:
        if not deaths:
            deaths.append(1)
            raise RuntimeError("the worker thread died (injected)")
        return real_run(burst)

    serve.worker.run = dies_once  # type: ignore[method-assign]
    thread = threading.Thread(target=serve.run, daemon=True)
    try:
        with caplog.at_level(logging.INFO):
            thread.start()
            worker = serve.supervisors[0]
            wait_until(lambda: worker.restarts == 1, what="the worker is restarted")
            (files / "in").mkdir(parents=True)
            samples.write_png(files / "in" / "scan.png", samples.sample_lines(seed=5, count=2))
            client = zeep.Client(serve.url + "?wsdl")
            job_id = client.service.FileBatch(**file_batch_args())
            header = {"ActivityMetadata": activity_header(job_id)}
            wait_until(
                lambda: client.service.GetStatus(_soapheaders=header).Status == "Completed",
                what="the next job completes",
            )
            assert worker.healthy and worker.restarts == 1
        died = [r for r in caplog.records if r.getMessage() == "worker died; restarting it"]
        assert len(died) == 1 and died[0].levelno == logging.ERROR
        assert "injected" in caplog.text
        assert (files / "out" / "scan.xml").is_file()
    finally:
        serve.stop()
        thread.join(timeout=30)
        serve.close()


def test_the_supervisor_says_loudly_when_a_loop_cannot_be_kept_alive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cora_ocr.outages import Backoff
    from cora_ocr.supervisor import FAILING_AFTER, Supervised

    def broken() -> None:
        raise RuntimeError("cannot start")

    supervised = Supervised("robot", broken, lambda: None, Backoff(base=0.001, cap=0.01))
    with caplog.at_level(logging.ERROR, logger="cora_ocr.supervisor"):
        supervised.start()
        wait_until(lambda: supervised.restarts >= FAILING_AFTER + 1, what="restarts")
        assert not supervised.healthy
        supervised.stop(timeout=5)
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical and "robot keeps dying" in critical[0].getMessage()
    assert "jobs are not moving" in critical[0].getMessage()


def test_a_missing_robot_output_folder_fails_the_waiting_job(pipeline: Pipeline) -> None:
    """The worker alone (no robot to make it again): the job fails with the reason."""
    pipeline.source()
    job_id = pipeline.submit()
    pipeline.drain()
    shutil.rmtree(pipeline.profile.output_dir)
    try:
        pipeline.drain()
        assert pipeline.status(job_id) == ("Failed", "FailedToPutInputFile")
        assert "robot output folder unavailable" in (pipeline.job(job_id).error_reason or "")
        assert list(pipeline.profile.input_dir.iterdir()) == []
    finally:
        pipeline.profile.output_dir.mkdir()


def test_an_outage_logs_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cora_ocr.outages import Backoff, Outage

    outage = Outage("database", logging.getLogger("test-outage"), Backoff(base=0.01, cap=0.02))
    with caplog.at_level(logging.INFO, logger="test-outage"):
        for _ in range(3):
            assert 0.0 < outage.failed(OSError("connection refused")) <= 0.02
        assert outage.ongoing
        outage.succeeded()
        outage.succeeded()  # nothing to say when nothing was wrong
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[0] == (
        "WARNING",
        "database unavailable (OSError: connection refused); retrying with backoff",
    )
    assert len(lines) == 2 and lines[1][0] == "INFO"
    assert re.fullmatch(
        r"database available again after [\d.]+ s \(3 failed attempts\)", lines[1][1]
    )
    assert not outage.ongoing and outage.backoff.failures == 0
