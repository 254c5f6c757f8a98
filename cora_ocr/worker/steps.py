"""One function per job state. A step looks at files and returns an Outcome; the loop
commits it as a guarded transition (and, on a final state, removes the job's robot files).
Steps never sleep and never write job rows themselves, except `deliver`, which records the
chosen output name before it places the file."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

from cora_ocr.connections import Connections, Storage, StorageError, files
from cora_ocr.connections.storage import OutsideRoot
from cora_ocr.errors import ClientError
from cora_ocr.jobs import NOT_STARTED
from cora_ocr.profiles import ENGINE_FAILED, Profile, Profiles, job_temp_tag, robot_file_name
from cora_ocr.robot.documents import count_pages
from cora_ocr.robot.quality import read_confidence
from cora_ocr.statuses import Ending, JobState, OcrErrorCode, PutModel
from cora_ocr.store.records import NO_UPDATE, UNSET, JobRecord, JobUpdate

MAX_ROBOT_REASON = 2000


@dataclass(frozen=True)
class Outcome:
    """What a step decided: move to `target`, or wait `wait_seconds` and look again."""

    target: JobState | None = None
    error_code: OcrErrorCode = OcrErrorCode.NoError
    reason: str | None = None
    update: JobUpdate = NO_UPDATE  # what it writes on the job beside its state
    wait_seconds: float | None = None
    ending: Ending | None = None  # how a failed or aborted job ended, if not its code's

    @classmethod
    def fail(cls, code: OcrErrorCode, reason: str, ending: Ending | None = None) -> Outcome:
        return cls(JobState.FAILED, code, reason, ending=ending)


@dataclass
class StepContext:
    connections: Connections
    profiles: Profiles
    now: dt.datetime
    poll_seconds: float
    # Records the delivery name on the job (guarded by the lease); False if the lease is lost.
    record_output_name: Callable[[str], bool]


def profile_missing(job: JobRecord) -> Outcome:
    return Outcome.fail(
        OcrErrorCode.RobotProfileNotFound, f"OCR profile {job.ocr_profile!r} is not configured"
    )


def _not_started_in_time(ctx: StepContext, job: JobRecord) -> Outcome | None:
    if job.start_by is not None and ctx.now.timestamp() >= job.start_by:
        return Outcome.fail(OcrErrorCode.TimedOut, NOT_STARTED)
    return None


def start(ctx: StepContext, job: JobRecord) -> Outcome:
    """Queued: the job starts now (its TimeOut counts from here) under a robot file name of its
    own, unless it waited longer than its TimeOut to start. A licensed job also reserves its
    document's pages; the worker admits that against the license's hourly budget when it
    commits the start, or throttles the job instead."""
    late = _not_started_in_time(ctx, job)
    if late is not None:
        return late
    update = JobUpdate(
        started_at=job.started_at or ctx.now,
        robot_name=robot_file_name(job.id, job.input_name),
        pages_reserved=_page_count(ctx, job) if job.license_pk is not None else UNSET,
    )
    return Outcome(JobState.PROCESSING_INPUT, update=update)


def resume(ctx: StepContext, job: JobRecord) -> Outcome:
    """Throttled, and due again: back to the queue, where the budget is checked anew."""
    return _not_started_in_time(ctx, job) or Outcome(
        JobState.QUEUED, reason="hourly page budget renewed"
    )


class StorageUnavailable(OSError):
    """A connection's server could not be reached or broke off: the step is tried again later
    (worker/loop.py); if it never comes back, the job fails with `error_code` and `reason`."""

    def __init__(self, error_code: OcrErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.error_code, self.reason = error_code, reason

    def __str__(self) -> str:
        return self.reason


def storage_trouble(
    storage: Storage, code: OcrErrorCode, side: str, error: StorageError
) -> Outcome:
    """A failed job, or StorageUnavailable raised when trying later may help."""
    reason = f"{side} connection {storage.name} ({storage.describe()}): {error.reason}"
    if error.transient:
        raise StorageUnavailable(code, reason) from error
    return Outcome.fail(code, reason)


def _source(ctx: StepContext, job: JobRecord) -> tuple[Storage, PurePath]:
    connection = ctx.connections.get("InputFile.Connection", job.input_connection, internal=True)
    return connection, connection.resolve("InputFile", job.input_location, job.input_name)


def _page_count(ctx: StepContext, job: JobRecord) -> int:
    """The document's pages, 1 if it cannot be read now (ProcessingInput says why)."""
    try:
        connection, source = _source(ctx, job)
        with connection.open_read(source) as reader:
            return count_pages(reader)
    except (ClientError, OSError):
        return 1


def robot_name(job: JobRecord) -> str:
    if job.robot_name is None:  # set when the job starts; a job that never started has none
        raise RuntimeError(f"job {job.id} has no robot file name")
    return job.robot_name


def put_input(ctx: StepContext, job: JobRecord) -> Outcome:
    """ProcessingInput: copy the caller's file into the robot's input folder, under the job's
    own name. A file of that name, or the robot's answer to it, was put there by this job
    before a worker stopped: the job goes on waiting for it (never judged by content)."""
    profile = ctx.profiles.get(job.ocr_profile)
    if profile is None:
        return profile_missing(job)
    name = robot_name(job)
    target = profile.input_path(name)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        return Outcome.fail(
            OcrErrorCode.InputFileExists,
            f"{name} in the robot input folder is not a document this job put there; remove it",
        )
    if target.is_file() or profile.claimed(name) or profile.alone_path(name).is_file():
        return Outcome(JobState.WAITING_FOR_OUTPUT)  # waiting for the robot, or in its hands
    if any(path.exists() for path in profile.answers(name)):
        return Outcome(JobState.WAITING_FOR_OUTPUT)  # the robot has it, or is done with it
    where = f"{job.input_connection}:{job.input_location}/{job.input_name}".replace(":/", ":")
    try:
        connection, source = _source(ctx, job)
    except ClientError as exc:
        return Outcome.fail(OcrErrorCode.InputFileNotFound, f"input file: {exc}")
    try:
        with connection.open_read(source) as reader:
            _write_robot_input(reader, target, job)
    except RobotFolderError as exc:
        return Outcome.fail(OcrErrorCode.FailedToPutInputFile, str(exc))
    except FileNotFoundError:
        return Outcome.fail(OcrErrorCode.InputFileNotFound, f"input file {where} does not exist")
    except files.NotARegularFile:
        return Outcome.fail(
            OcrErrorCode.InputFileNotFound, f"input file {where} is not a regular file"
        )
    except OutsideRoot as exc:
        return Outcome.fail(OcrErrorCode.InputFileNotFound, f"input file: {exc.reason}")
    except StorageError as exc:
        return storage_trouble(connection, OcrErrorCode.FailedToPutInputFile, "input", exc)
    return Outcome(JobState.WAITING_FOR_OUTPUT)


class RobotFolderError(Exception):
    """The robot's input folder could not take the document (the reading side was fine)."""


def _write_robot_input(reader: BinaryIO, target: Path, job: JobRecord) -> None:
    try:
        files.put_file(reader, target, replace=False, tag=job_temp_tag(job.id))
    except files.TargetExists:
        pass  # the job's own name: only this job puts a file there
    except StorageError:
        raise  # the connection failed while the document was read
    except OSError as exc:
        raise RobotFolderError(f"cannot write {target}: {exc.strerror or exc}") from exc


def wait_for_output(ctx: StepContext, job: JobRecord) -> Outcome:
    """WaitingForOutput: a result moves on, a robot error fails, past the TimeOut fails."""
    profile = ctx.profiles.get(job.ocr_profile)
    if profile is None:
        return profile_missing(job)
    name = robot_name(job)
    pages = read_progress(profile.progress_path(name))
    if profile.result_path(name).is_file():
        update = pages | JobUpdate(
            confidence=read_confidence(profile.confidence_path(name)),
            barcodes=read_count(profile.barcodes_path(name)),
            pdfa=read_flag(profile.pdfa_path(name)),
        )
        return Outcome(
            JobState.DELIVERING, reason=read_notes(profile.notes_path(name)), update=update
        )
    error_file = profile.error_path(name)
    if error_file.is_file():
        reason = error_file.read_text("utf-8", "replace").strip()[:MAX_ROBOT_REASON]
        # The robot's answer (docs/reference/hot-folder-protocol.md): "OCR failed: ..." when
        # it read the document and its engine failed; any other reason is one it cannot read.
        ending = Ending.ENGINE_ERROR if reason.startswith(ENGINE_FAILED) else None
        return Outcome.fail(
            OcrErrorCode.FailedToPutInputFile,
            f"the robot refused the input: {reason or 'no reason given'}",
            ending or Ending.UNSUPPORTED_MEDIA,
        )
    for label, folder in (("input", profile.input_dir), ("output", profile.output_dir)):
        if not folder.is_dir():  # the document, or the robot's way to answer, is gone
            return Outcome.fail(
                OcrErrorCode.FailedToPutInputFile,
                f"robot {label} folder unavailable: {folder} is missing or not a folder",
            )
    assert job.started_at is not None
    deadline = job.started_at + dt.timedelta(seconds=job.timeout_seconds)
    if ctx.now >= deadline:
        return Outcome.fail(
            OcrErrorCode.TimedOut, f"no result from the robot within {job.timeout_seconds} s"
        )
    remaining = (deadline - ctx.now).total_seconds()
    return Outcome(wait_seconds=min(ctx.poll_seconds, remaining), update=pages)


def read_notes(path: Path) -> str | None:
    """The robot's notes on a document, each once, in order; None if it wrote none."""
    try:
        lines = path.read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    notes = "; ".join(dict.fromkeys(line.strip() for line in lines if line.strip()))
    return f"the robot: {notes}"[:MAX_ROBOT_REASON] if notes else None


def read_count(path: Path) -> int | None:
    """A count a robot wrote (barcodes found); None if absent or garbled."""
    try:
        count = int(path.read_text("ascii").strip())
    except (OSError, ValueError):
        return None
    return count if 0 <= count <= 1_000_000 else None


def read_flag(path: Path) -> bool | None:
    """A robot's yes or no ("true ..." or "false ..."); None if absent or garbled."""
    try:
        word = path.read_text("utf-8", "replace").split(maxsplit=1)[0]
    except (OSError, IndexError):
        return None
    return {"true": True, "false": False}.get(word)


def read_progress(path: Path) -> JobUpdate:
    """Pages done and total from the robot's progress file; nothing if absent or garbled."""
    try:
        done, total = (int(part) for part in path.read_text("ascii").split())
    except (OSError, ValueError):
        return NO_UPDATE
    if not 0 <= done <= total <= 1_000_000:
        return NO_UPDATE
    return JobUpdate(pages_done=done, pages_total=total)


def deliver(ctx: StepContext, job: JobRecord) -> Outcome:
    """Delivering: put the robot's results by the job's PutModel, the first at OutPutFile,
    each other output of the profile beside it (`<stem><its extension>`), all or none."""
    profile = ctx.profiles.get(job.ocr_profile)
    if profile is None:
        return profile_missing(job)
    try:
        connection = ctx.connections.get(
            "OutPutFile.Connection", job.output_connection, internal=True
        )
        target = connection.resolve("OutPutFile", job.output_location, job.output_name)
    except ClientError as exc:
        return Outcome.fail(OcrErrorCode.FailedToPutOutputFile, f"output file: {exc}")
    name = robot_name(job)
    results = {profile.output_format: profile.result_path(name)}
    results.update(profile.extra_result_paths(name))
    recorded = target.with_name(job.output_final_name) if job.output_final_name else None
    try:
        if recorded is not None and all(
            connection.exists(place)
            and (not result.exists() or connection.same_content(result, place))
            for place, result in _places(profile, recorded, results)
        ):
            return completed(profile, job)  # delivered before a crash; finish the job
        vanished = [result for result in results.values() if not result.is_file()]
        if vanished:
            return Outcome.fail(
                OcrErrorCode.InternalError, f"the robot result {vanished[0]} vanished"
            )
        return _place_results(ctx, job, connection, results, target)
    except StorageError as exc:
        return storage_trouble(connection, OcrErrorCode.FailedToPutOutputFile, "output", exc)


def _places(
    profile: Profile, chosen: PurePath, results: dict[str, Path]
) -> list[tuple[PurePath, Path]]:
    """Where each result goes when the first goes to `chosen`: the others beside it."""
    return [
        (chosen if form == profile.output_format else beside(chosen, profile, form), result)
        for form, result in results.items()
    ]


def beside(chosen: PurePath, profile: Profile, form: str) -> PurePath:
    return chosen.with_name(chosen.stem + profile.extension(form))


def completed(profile: Profile, job: JobRecord) -> Outcome:
    """Completed, with the formats delivered and whether the job needs review: its mean word
    confidence is under the profile's review_below."""
    mean = (job.confidence or {}).get("mean")
    review = None
    if profile.review_below is not None and isinstance(mean, int | float):
        review = mean < profile.review_below
    update = JobUpdate(result_formats=",".join(profile.outputs), needs_review=review)
    return Outcome(JobState.COMPLETED, update=update)


def _place_results(
    ctx: StepContext,
    job: JobRecord,
    connection: Storage,
    results: dict[str, Path],
    target: PurePath,
) -> Outcome:
    profile = ctx.profiles.get(job.ocr_profile)
    assert profile is not None  # deliver checked it
    put_model = PutModel(job.put_model)
    others = tuple(profile.extension(form) for form in profile.outputs[1:])
    for _ in range(1000):
        chosen = connection.first_free(target, others) if put_model is PutModel.Rename else target
        resumed = job.output_final_name == chosen.name  # a delivery a crash cut short
        if not ctx.record_output_name(chosen.name):
            return Outcome()  # lease lost: the loop notices and stops
        placed: list[PurePath] = []
        place = chosen
        try:
            for place, result in _places(profile, chosen, results):
                if resumed and connection.same_content(result, place):
                    continue  # put there by this job before the crash
                with files.open_source(result) as reader:
                    connection.put(
                        reader,
                        place,
                        replace=put_model is PutModel.Overwrite,
                        tag=job_temp_tag(job.id),
                    )
                placed.append(place)
            return completed(profile, job)
        except files.TargetExists:
            _take_back(connection, placed)
            if put_model is PutModel.FailIfExists:
                return Outcome.fail(
                    OcrErrorCode.OutputFileExists,
                    f"{place.name} already exists at the output location",
                )
            continue  # Rename: someone took one of the names meanwhile, take the next
        except StorageError:
            _take_back(connection, placed)
            raise
        except OSError as exc:
            _take_back(connection, placed)
            return Outcome.fail(
                OcrErrorCode.FailedToPutOutputFile,
                f"cannot write {connection.where(place)}: {exc.strerror or exc}",
            )
    return Outcome.fail(OcrErrorCode.FailedToPutOutputFile, "no free name to rename the output to")


def _take_back(connection: Storage, placed: list[PurePath]) -> None:
    """All or none: the results this delivery put before one failed are removed again (a
    removal that fails too is left for the retry, which finds them its own)."""
    for place in placed:
        with contextlib.suppress(OSError, StorageError):
            connection.remove(place)


STEPS: dict[JobState, Callable[[StepContext, JobRecord], Outcome]] = {
    JobState.QUEUED: start,
    JobState.THROTTLED: resume,
    JobState.PROCESSING_INPUT: put_input,
    JobState.WAITING_FOR_OUTPUT: wait_for_output,
    JobState.DELIVERING: deliver,
}
