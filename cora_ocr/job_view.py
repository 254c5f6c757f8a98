"""The JSON view of a job, shared by the REST face and the callbacks the worker sends: its
life-cycle status, the list filters that select by it, and the REST API's root (PREFIX) its
links start with. Neither the REST face's nor the worker's: both import it from here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from cora_ocr.statuses import Ending, JobState
from cora_ocr.store import Job

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


# Two final outcomes are told apart by how the job ended (statuses.Ending, stored with it): a
# document the robot could not read (not an OCR failure), and a job stopped by its license.
def status_of(job: Job) -> str:
    if job.state == JobState.FAILED.value and job.ending == Ending.UNSUPPORTED_MEDIA.value:
        return "UnsupportedMediaType"
    if job.state == JobState.ABORTED.value and job.ending == Ending.LICENSE.value:
        return "LicenseError"
    return LIFECYCLE[job.state]


def _in(*states: JobState) -> ColumnElement[bool]:
    return Job.state.in_([state.value for state in states])


def _ended(ending: Ending) -> ColumnElement[bool]:
    return Job.ending == ending.value


def _not_ended(ending: Ending) -> ColumnElement[bool]:
    return or_(Job.ending.is_(None), Job.ending != ending.value)


# `status` of the job list: the condition that selects the jobs shown with that status.
STATUS_FILTERS: dict[str, ColumnElement[bool]] = {
    "Queued": _in(JobState.QUEUED),
    "Throttled": _in(JobState.THROTTLED),
    "Processing": _in(JobState.PROCESSING_INPUT, JobState.WAITING_FOR_OUTPUT, JobState.DELIVERING),
    "Completed": _in(JobState.COMPLETED),
    "Aborted": and_(_in(JobState.ABORTED), _not_ended(Ending.LICENSE)),
    "LicenseError": and_(_in(JobState.ABORTED), _ended(Ending.LICENSE)),
    "UnsupportedMediaType": and_(_in(JobState.FAILED), _ended(Ending.UNSUPPORTED_MEDIA)),
    "ProcessingError": and_(_in(JobState.FAILED), _not_ended(Ending.UNSUPPORTED_MEDIA)),
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
