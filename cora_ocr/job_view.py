"""The JSON view of a job, shared by the REST face and the callbacks the worker sends: its
life-cycle status, the list filters that select by it, and the REST API's root (PREFIX) its
links start with. Neither the REST face's nor the worker's: both import it from here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from cora_ocr.statuses import JobState
from cora_ocr.store import Job
from cora_ocr.worker.policy import LICENSE_ERROR

PREFIX = "/api/v1"

# The seeds' life cycle, from the store's states.
LIFECYCLE: dict[str, str] = {
    JobState.QUEUED.value: "Queued",
    JobState.THROTTLED.value: "Throttled",
    JobState.PROCESSING_INPUT.value: "Processing",
    JobState.WAITING_FOR_OUTPUT.value: "Processing",
    JobState.DELIVERING.value: "Processing",
    JobState.COMPLETED.value: "Completed",
    JobState.ABORTED.value: "Aborted",
    JobState.FAILED.value: "ProcessingError",
}
# Two final outcomes are told apart by their recorded reason: a document the robot could not
# read (its refusal, not an OCR failure), and a job stopped by its license (worker/policy.py).
UNREADABLE = "the robot refused the input: "
OCR_FAILED = UNREADABLE + "OCR failed"
LICENSE_STOPPED = LICENSE_ERROR + ":"


def status_of(job: Job) -> str:
    reason = job.error_reason or ""
    failed = job.state == JobState.FAILED.value
    if failed and reason.startswith(UNREADABLE) and not reason.startswith(OCR_FAILED):
        return "UnsupportedMediaType"
    if job.state == JobState.ABORTED.value and reason.startswith(LICENSE_STOPPED):
        return "LicenseError"
    return LIFECYCLE[job.state]


def _unreadable() -> ColumnElement[bool]:
    return and_(
        Job.error_reason.startswith(UNREADABLE, autoescape=True),
        not_(Job.error_reason.startswith(OCR_FAILED, autoescape=True)),
    )


def _license_stopped() -> ColumnElement[bool]:
    return Job.error_reason.startswith(LICENSE_STOPPED, autoescape=True)


def _in(*states: JobState) -> ColumnElement[bool]:
    return Job.state.in_([state.value for state in states])


# `status` of the job list: the condition that selects the jobs shown with that status.
STATUS_FILTERS: dict[str, ColumnElement[bool]] = {
    "Queued": _in(JobState.QUEUED),
    "Throttled": _in(JobState.THROTTLED),
    "Processing": _in(JobState.PROCESSING_INPUT, JobState.WAITING_FOR_OUTPUT, JobState.DELIVERING),
    "Completed": _in(JobState.COMPLETED),
    "Aborted": and_(
        _in(JobState.ABORTED), or_(Job.error_reason.is_(None), not_(_license_stopped()))
    ),
    "LicenseError": and_(_in(JobState.ABORTED), _license_stopped()),
    "UnsupportedMediaType": and_(_in(JobState.FAILED), _unreadable()),
    "ProcessingError": and_(
        _in(JobState.FAILED), or_(Job.error_reason.is_(None), not_(_unreadable()))
    ),
}


def iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def job_view(job: Job) -> dict[str, Any]:
    link = f"{PREFIX}/jobs/{job.id}"
    return {
        "id": job.id,
        "status": status_of(job),
        "errorCode": job.error_code,
        "pagesDone": job.pages_done,
        "pagesTotal": job.pages_total,
        "profile": job.ocr_profile,
        "externalContext": job.external_context,
        "created": iso(job.created_at),
        "updated": iso(job.updated_at),
        "links": {"self": link, "result": f"{link}/result"},
    }
