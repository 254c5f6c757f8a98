"""Acceptance (pipeline) 1: every status and error code, reached through the SOAP API with a
simulated robot, real files, a real worker in burst mode and a clock the test moves."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from cora_ocr.statuses import JobState
from tests.conftest import Pipeline
from tests.support.factories import file_ref
from tests.support.robots import result_text


def test_completed_through_every_status(pipeline: Pipeline) -> None:
    pipeline.source("scan.png", b"page one")
    job_id = pipeline.submit()
    assert pipeline.status(job_id) == ("Queued", "NoError")

    seen: list[tuple[str, str]] = []
    pipeline.hooks.before[JobState.PROCESSING_INPUT] = lambda jid: seen.append(pipeline.status(jid))
    pipeline.drain()
    assert seen == [("ProcessingInput", "NoError")]
    assert pipeline.status(job_id) == ("WaitingForOutput", "NoError")
    name = pipeline.robot_name(job_id)
    assert re.fullmatch(rf"{job_id}-[0-9a-f]{{8}}-scan\.png", name)
    assert pipeline.robot_files() == [name]
    assert pipeline.profile.input_path(name).read_bytes() == b"page one"

    pipeline.drain()  # the robot has not answered: still waiting
    assert pipeline.status(job_id) == ("WaitingForOutput", "NoError")

    assert pipeline.robot.process_all() == 1
    pipeline.drain()
    assert pipeline.status(job_id) == ("Completed", "NoError")
    output = pipeline.root / "out" / "scan.xml"
    assert output.read_bytes() == result_text("scan.png", b"page one")
    # Nothing is left in the robot's folders, and no temp file anywhere.
    assert list(pipeline.profile.input_dir.iterdir()) == []
    assert list(pipeline.profile.output_dir.iterdir()) == []
    assert sorted(p.name for p in (pipeline.root / "out").iterdir()) == ["scan.xml"]
    history = [(e.from_state, e.to_state) for e in pipeline.job(job_id).events]
    assert history == [
        (None, "queued"),
        ("queued", "processing_input"),
        ("processing_input", "waiting_for_output"),
        ("waiting_for_output", "delivering"),
        ("delivering", "completed"),
    ]


def test_aborted_cleans_the_robot_folder(pipeline: Pipeline) -> None:
    pipeline.source()
    job_id = pipeline.submit()
    pipeline.drain()
    assert pipeline.profile.input_path(pipeline.robot_name(job_id)).exists()
    pipeline.services.jobs.abort(job_id)
    assert pipeline.status(job_id) == ("Aborted", "NoError")
    assert pipeline.robot_files() == []
    pipeline.robot.process_all()
    pipeline.drain()  # a worker never touches an aborted job again
    assert pipeline.status(job_id) == ("Aborted", "NoError")
    assert not (pipeline.root / "out" / "scan.xml").exists()


def test_abort_while_a_worker_holds_the_job(pipeline: Pipeline) -> None:
    """A racing worker cannot overwrite Aborted: its guarded transition finds the job moved."""
    pipeline.source()
    job_id = pipeline.submit()
    pipeline.hooks.before[JobState.PROCESSING_INPUT] = pipeline.services.jobs.abort
    pipeline.drain()
    assert pipeline.status(job_id) == ("Aborted", "NoError")
    assert pipeline.robot_files() == []  # the worker cleaned up too
    assert [e.to_state for e in pipeline.job(job_id).events][-1] == "aborted"


def test_timed_out(pipeline: Pipeline) -> None:
    pipeline.source()
    job_id = pipeline.submit(TimeOut=5)
    pipeline.drain()
    pipeline.clock.advance(3)
    pipeline.drain()
    assert pipeline.status(job_id) == ("WaitingForOutput", "NoError")
    pipeline.clock.advance(2)
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "TimedOut")
    assert pipeline.robot_files() == []
    assert "within 5 s" in (pipeline.job(job_id).error_reason or "")


def test_input_file_not_found(pipeline: Pipeline) -> None:
    job_id = pipeline.submit()
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "InputFileNotFound")
    assert "scan.png" in (pipeline.job(job_id).error_reason or "")


def test_input_that_is_a_folder_is_not_read(pipeline: Pipeline) -> None:
    (pipeline.root / "in" / "scan.png").mkdir(parents=True)
    job_id = pipeline.submit()
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "InputFileNotFound")
    assert "not a regular file" in (pipeline.job(job_id).error_reason or "")


def test_link_made_after_submission_is_not_followed(pipeline: Pipeline, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"outside")
    job_id = pipeline.submit()
    (pipeline.root / "in").mkdir(exist_ok=True)
    (pipeline.root / "in" / "scan.png").symlink_to(secret)
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "InputFileNotFound")
    assert pipeline.robot_files() == []


def test_files_of_the_same_name_in_the_robot_folders_are_not_the_jobs(pipeline: Pipeline) -> None:
    """A document, a result and an error file named like the job's FileName (another caller's,
    or left by an older version) are not the job's: it runs under its own name."""
    pipeline.source(data=b"ours")
    strangers = {
        pipeline.profile.input_path("scan.png"): b"someone else's document",
        pipeline.profile.input_path("scan.pdf"): b"same stem",
        pipeline.profile.result_path("scan.png"): b"someone else's result",
        pipeline.profile.error_path("scan.png"): b"someone else's error",
    }
    for path, data in strangers.items():
        path.write_bytes(data)
    job_id = pipeline.submit()
    pipeline.drain()
    assert pipeline.profile.input_path(pipeline.robot_name(job_id)).read_bytes() == b"ours"
    for path in strangers:
        path.rename(path.with_name("." + path.name))  # out of the robot's way
    pipeline.robot.process_all()
    pipeline.drain()
    assert pipeline.status(job_id) == ("Completed", "NoError")
    assert (pipeline.root / "out" / "scan.xml").read_bytes() == result_text("scan.png", b"ours")
    for path, data in strangers.items():
        assert path.with_name("." + path.name).read_bytes() == data, "never touched"


def test_something_else_under_the_jobs_own_name_is_input_file_exists(pipeline: Pipeline) -> None:
    pipeline.source()
    job_id = pipeline.submit()
    blocker: list[Path] = []

    def block(jid: int) -> None:
        path = pipeline.profile.input_path(pipeline.robot_name(jid))
        path.mkdir()
        blocker.append(path)

    pipeline.hooks.before[JobState.PROCESSING_INPUT] = block
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "InputFileExists")
    assert "not a document this job put there" in (pipeline.job(job_id).error_reason or "")
    assert blocker[0].is_dir(), "what the job did not put there is not removed"


def test_failed_to_put_input_file(pipeline: Pipeline) -> None:
    pipeline.source()
    pipeline.profile.input_dir.rmdir()
    pipeline.profile.input_dir.write_bytes(b"a file where the robot folder should be")
    try:
        job_id = pipeline.submit()
        pipeline.drain()
        assert pipeline.status(job_id) == ("Failed", "FailedToPutInputFile")
        assert "cannot write" in (pipeline.job(job_id).error_reason or "")
    finally:
        pipeline.profile.input_dir.unlink()
        pipeline.profile.input_dir.mkdir()


def test_robot_refusal_is_failed_to_put_input_file(pipeline: Pipeline) -> None:
    pipeline.source()
    job_id = pipeline.submit()
    pipeline.drain()
    name = pipeline.robot_name(job_id)
    pipeline.robot.refuse(name, "not a supported document (application/x-msdownload)")
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "FailedToPutInputFile")
    assert "application/x-msdownload" in (pipeline.job(job_id).error_reason or "")
    assert list(pipeline.profile.output_dir.iterdir()) == []


def test_robot_profile_not_found(pipeline: Pipeline) -> None:
    pipeline.source()
    job_id = pipeline.submit(OCRProfile="NoSuchProfile")
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "RobotProfileNotFound")
    assert "NoSuchProfile" in (pipeline.job(job_id).error_reason or "")


def _to_delivery(pipeline: Pipeline, **overrides: Any) -> int:
    pipeline.source()
    job_id = pipeline.submit(**overrides)
    pipeline.drain()
    pipeline.robot.process_all()
    pipeline.drain()
    return job_id


def test_output_file_exists(pipeline: Pipeline) -> None:
    (pipeline.root / "out").mkdir()
    (pipeline.root / "out" / "scan.xml").write_bytes(b"previous result")
    job_id = _to_delivery(pipeline, PutModel="FailIfExists")
    assert pipeline.status(job_id) == ("Failed", "OutputFileExists")
    assert (pipeline.root / "out" / "scan.xml").read_bytes() == b"previous result"


def test_overwrite_and_rename(pipeline: Pipeline) -> None:
    (pipeline.root / "out").mkdir()
    (pipeline.root / "out" / "scan.xml").write_bytes(b"previous result")
    first = _to_delivery(pipeline, PutModel="Overwrite")
    assert pipeline.status(first) == ("Completed", "NoError")
    expected = result_text("scan.png", b"PNG-bytes")
    assert (pipeline.root / "out" / "scan.xml").read_bytes() == expected
    second = _to_delivery(pipeline, PutModel="Rename")
    assert pipeline.status(second) == ("Completed", "NoError")
    assert (pipeline.root / "out" / "scan (1).xml").read_bytes() == expected
    assert pipeline.job(second).output_final_name == "scan (1).xml"


def test_failed_to_put_output_file(pipeline: Pipeline) -> None:
    (pipeline.root / "blocker").write_bytes(b"a file, not a folder")
    job_id = _to_delivery(pipeline, OutPutFile=file_ref("scan.xml", "blocker/sub"))
    assert pipeline.status(job_id) == ("Failed", "FailedToPutOutputFile")
    assert "cannot write" in (pipeline.job(job_id).error_reason or "")


def test_internal_error_when_the_result_vanishes(pipeline: Pipeline) -> None:
    pipeline.hooks.before[JobState.DELIVERING] = lambda jid: pipeline.profile.result_path(
        pipeline.robot_name(jid)
    ).unlink()
    job_id = _to_delivery(pipeline)
    assert pipeline.status(job_id) == ("Failed", "InternalError")
    assert "vanished" in (pipeline.job(job_id).error_reason or "")


def test_retry_of_a_failed_job(pipeline: Pipeline) -> None:
    job_id = pipeline.submit()
    pipeline.drain()
    assert pipeline.status(job_id) == ("Failed", "InputFileNotFound")
    pipeline.source()
    pipeline.services.jobs.retry(job_id)
    assert pipeline.status(job_id) == ("Queued", "NoError")
    pipeline.drain()
    pipeline.robot.process_all()
    pipeline.drain()
    assert pipeline.status(job_id) == ("Completed", "NoError")
    assert pipeline.job(job_id).error_reason is None


def test_final_jobs_cannot_be_aborted_or_retried(pipeline: Pipeline) -> None:
    from cora_ocr.errors import ClientError

    job_id = pipeline.submit()
    pipeline.services.jobs.abort(job_id)
    with pytest.raises(ClientError, match="already Aborted"):
        pipeline.services.jobs.abort(job_id)
    with pytest.raises(ClientError, match="only Failed jobs"):
        pipeline.services.jobs.retry(job_id)


def test_stray_files_are_swept_once_old_and_live_jobs_files_kept(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.source()
    live = pipeline.submit()
    pipeline.drain()
    name = pipeline.robot_name(live)
    pipeline.profile.progress_path(name).write_text("0 1")
    strays = [
        pipeline.profile.input_path("scan.png"),  # a document of nobody's (an older version's)
        pipeline.profile.result_path("9-0badc0de-late.png"),  # a result after its job ended
        pipeline.profile.error_path("9-0badc0de-late.png"),
        pipeline.profile.output_dir / ".9-0badc0de-late.xml.abc.robot",  # a robot's temp file
    ]
    for path in strays:
        path.write_bytes(b"stray")
    young = pipeline.profile.output_dir / "young.xml"
    young.write_bytes(b"not old enough yet")
    (pipeline.profile.input_dir / "sub").mkdir()
    age = pipeline.services.settings.orphan_seconds
    then = pipeline.clock.now().timestamp() - age - 1
    for path in (*strays, pipeline.profile.input_path(name), pipeline.profile.progress_path(name)):
        os.utime(path, (then, then))

    with caplog.at_level(logging.INFO, logger="cora_ocr.worker.sweep"):
        assert pipeline.worker.sweep() == len(strays)
    assert not any(path.exists() for path in strays)
    assert sorted(pipeline.robot_files()) == sorted(
        [name, f".{Path(name).stem}.progress", "sub", "young.xml"]
    )
    for path in strays:
        assert any(str(path) in record.getMessage() for record in caplog.records)

    pipeline.robot.process_all()
    pipeline.drain()
    assert pipeline.status(live) == ("Completed", "NoError")


def test_the_sweep_can_be_turned_off(pipeline: Pipeline) -> None:
    import dataclasses

    from cora_ocr.services import build_services

    settings = dataclasses.replace(pipeline.services.settings, orphan_seconds=0)
    worker = build_services(settings, pipeline.services.store).worker(clock=pipeline.clock)
    stray = pipeline.profile.input_path("scan.png")
    stray.write_bytes(b"stray")
    os.utime(stray, (0, 0))
    assert worker.sweep() == 0 and stray.exists()
