"""One function per job state. A step looks at files and returns an Outcome; the loop
commits it as a guarded transition. Steps never sleep and never write job rows themselves,
except `deliver`, which records the chosen output name before it places the file."""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from cora_ocr.connections import Connections, files
from cora_ocr.errors import ClientError
from cora_ocr.profiles import Profile, Profiles, job_temp_tag
from cora_ocr.statuses import JobState, OcrErrorCode, PutModel
from cora_ocr.store import Job

MAX_ROBOT_REASON = 2000


@dataclass(frozen=True)
class Outcome:
    """What a step decided: move to `target`, or wait `wait_seconds` and look again."""

    target: JobState | None = None
    error_code: OcrErrorCode = OcrErrorCode.NoError
    reason: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    wait_seconds: float | None = None

    @classmethod
    def fail(cls, code: OcrErrorCode, reason: str) -> Outcome:
        return cls(JobState.FAILED, code, reason)


@dataclass
class StepContext:
    connections: Connections
    profiles: Profiles
    now: dt.datetime
    poll_seconds: float
    # Records the delivery name on the job (guarded by the lease); False if the lease is lost.
    record_output_name: Callable[[str], bool]
    # When the job's license has spent its hourly page budget: the time it renews, else None.
    throttled_until: Callable[[Job], dt.datetime | None]


def profile_missing(job: Job) -> Outcome:
    return Outcome.fail(
        OcrErrorCode.RobotProfileNotFound, f"OCR profile {job.ocr_profile!r} is not configured"
    )


def start(ctx: StepContext, job: Job) -> Outcome:
    """Queued: the job starts now (its TimeOut counts from here), unless its license's page
    budget for this hour is spent: then it waits, Throttled, until the hour renews."""
    until = ctx.throttled_until(job)
    if until is not None:
        return Outcome(
            JobState.THROTTLED,
            reason=f"hourly page budget spent; resumes at {until.isoformat(timespec='seconds')}",
            columns={"next_attempt_at": until},
        )
    return Outcome(JobState.PROCESSING_INPUT, columns={"started_at": job.started_at or ctx.now})


def resume(ctx: StepContext, job: Job) -> Outcome:
    """Throttled, and due again: back to the queue, where the budget is checked anew."""
    return Outcome(JobState.QUEUED, reason="hourly page budget renewed")


def _source(ctx: StepContext, job: Job) -> Path:
    connection = ctx.connections.get("InputFile.Connection", job.input_connection)
    return connection.resolve("InputFile", job.input_location, job.input_name)


def put_input(ctx: StepContext, job: Job) -> Outcome:
    """ProcessingInput: copy the caller's file into the robot's input folder."""
    profile = ctx.profiles.get(job.ocr_profile)
    if profile is None:
        return profile_missing(job)
    where = f"{job.input_connection}:{job.input_location}/{job.input_name}".replace(":/", ":")
    try:
        source = _source(ctx, job)
        reader = files.open_source(source)
    except ClientError as exc:
        return Outcome.fail(OcrErrorCode.InputFileNotFound, f"input file: {exc}")
    except FileNotFoundError:
        return Outcome.fail(OcrErrorCode.InputFileNotFound, f"input file {where} does not exist")
    except files.NotARegularFile:
        return Outcome.fail(
            OcrErrorCode.InputFileNotFound, f"input file {where} is not a regular file"
        )
    target = profile.input_path(job.input_name)
    with reader:
        if target.exists():
            if files.same_content(source, target):  # placed by us before a crash
                return Outcome(JobState.WAITING_FOR_OUTPUT)
            return Outcome.fail(
                OcrErrorCode.InputFileExists, f"{target.name} is already in the robot input folder"
            )
        clash = stem_clash(profile, job)
        if clash == "ours":  # the robot took our input before a worker died
            return Outcome(JobState.WAITING_FOR_OUTPUT)
        if clash:
            return Outcome.fail(OcrErrorCode.InputFileExists, clash)
        try:
            files.put_file(reader, target, replace=False, tag=job_temp_tag(job.id))
        except files.TargetExists:
            return Outcome.fail(
                OcrErrorCode.InputFileExists, f"{target.name} is already in the robot input folder"
            )
        except OSError as exc:
            return Outcome.fail(
                OcrErrorCode.FailedToPutInputFile, f"cannot write {target}: {exc.strerror or exc}"
            )
    return Outcome(JobState.WAITING_FOR_OUTPUT)


def stem_clash(profile: Profile, job: Job) -> str | None:
    """Results are named by the input's stem, so a document with the same stem already in the
    robot's folders would collide with this one: the reason, "ours" on a resumed job whose
    result is already there, or None."""
    name = job.input_name
    pending = [
        path for path in (profile.result_path(name), profile.error_path(name)) if path.exists()
    ]
    if pending:
        if job.stalls:
            return "ours"
        return (
            f"{pending[0].name} for a document of the same name is still in the robot output folder"
        )
    stem = PurePath(name).stem
    for other in profile.input_dir.glob(glob.escape(stem) + ".*"):
        if (
            other.name != name
            and not other.name.startswith(".")
            and PurePath(other.name).stem == stem
        ):
            return (
                f"{other.name} in the robot input folder has the same name stem;"
                " the results would collide"
            )
    return None


def wait_for_output(ctx: StepContext, job: Job) -> Outcome:
    """WaitingForOutput: a result moves on, a robot error fails, past the TimeOut fails."""
    profile = ctx.profiles.get(job.ocr_profile)
    if profile is None:
        return profile_missing(job)
    pages = read_progress(profile.progress_path(job.input_name))
    if profile.result_path(job.input_name).is_file():
        return Outcome(JobState.DELIVERING, columns=pages)
    error_file = profile.error_path(job.input_name)
    if error_file.is_file():
        reason = error_file.read_text("utf-8", "replace").strip()[:MAX_ROBOT_REASON]
        profile.cleanup(job.input_name, job.id)
        return Outcome.fail(
            OcrErrorCode.FailedToPutInputFile,
            f"the robot refused the input: {reason or 'no reason given'}",
        )
    assert job.started_at is not None
    deadline = job.started_at + dt.timedelta(seconds=job.timeout_seconds)
    if ctx.now >= deadline:
        profile.cleanup(job.input_name, job.id)
        return Outcome.fail(
            OcrErrorCode.TimedOut, f"no result from the robot within {job.timeout_seconds} s"
        )
    remaining = (deadline - ctx.now).total_seconds()
    return Outcome(wait_seconds=min(ctx.poll_seconds, remaining), columns=pages)


def read_progress(path: Path) -> dict[str, int]:
    """Pages done and total from the robot's progress file; nothing if absent or garbled."""
    try:
        done, total = (int(part) for part in path.read_text("ascii").split())
    except (OSError, ValueError):
        return {}
    if not 0 <= done <= total <= 1_000_000:
        return {}
    return {"pages_done": done, "pages_total": total}


def deliver(ctx: StepContext, job: Job) -> Outcome:
    """Delivering: put the robot's result at OutPutFile by the job's PutModel."""
    profile = ctx.profiles.get(job.ocr_profile)
    if profile is None:
        return profile_missing(job)
    try:
        connection = ctx.connections.get("OutPutFile.Connection", job.output_connection)
        target = connection.resolve("OutPutFile", job.output_location, job.output_name)
    except ClientError as exc:
        return Outcome.fail(OcrErrorCode.FailedToPutOutputFile, f"output file: {exc}")
    result = profile.result_path(job.input_name)
    recorded = target.with_name(job.output_final_name) if job.output_final_name else None
    if (
        recorded is not None
        and recorded.exists()
        and (not result.exists() or files.same_content(result, recorded))
    ):
        profile.cleanup(job.input_name, job.id)  # delivered before a crash; finish the job
        return Outcome(JobState.COMPLETED)
    if not result.is_file():
        return Outcome.fail(OcrErrorCode.InternalError, f"the robot result {result} vanished")
    outcome = _place_result(ctx, job, result, target)
    if outcome.target is JobState.COMPLETED:
        profile.cleanup(job.input_name, job.id)
    return outcome


def _place_result(ctx: StepContext, job: Job, result: Path, target: Path) -> Outcome:
    put_model = PutModel(job.put_model)
    for _ in range(1000):
        chosen = files.first_free(target) if put_model is PutModel.Rename else target
        if not ctx.record_output_name(chosen.name):
            return Outcome()  # lease lost: the loop notices and stops
        try:
            with files.open_source(result) as reader:
                files.put_file(
                    reader,
                    chosen,
                    replace=put_model is PutModel.Overwrite,
                    tag=job_temp_tag(job.id),
                )
            return Outcome(JobState.COMPLETED)
        except files.TargetExists:
            if put_model is PutModel.FailIfExists:
                return Outcome.fail(
                    OcrErrorCode.OutputFileExists,
                    f"{target.name} already exists at the output location",
                )
            continue  # Rename: someone took that name meanwhile, take the next
        except OSError as exc:
            return Outcome.fail(
                OcrErrorCode.FailedToPutOutputFile, f"cannot write {chosen}: {exc.strerror or exc}"
            )
    return Outcome.fail(OcrErrorCode.FailedToPutOutputFile, "no free name to rename the output to")


STEPS: dict[JobState, Callable[[StepContext, Job], Outcome]] = {
    JobState.QUEUED: start,
    JobState.THROTTLED: resume,
    JobState.PROCESSING_INPUT: put_input,
    JobState.WAITING_FOR_OUTPUT: wait_for_output,
    JobState.DELIVERING: deliver,
}
