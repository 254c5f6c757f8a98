"""The JSON view of a job, shared by the REST face and the callbacks the worker sends."""

from __future__ import annotations

from typing import Any

from cora_ocr.statuses import JobState
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
STATES_OF: dict[str, tuple[str, ...]] = {
    name: tuple(state for state, shown in LIFECYCLE.items() if shown == name)
    for name in dict.fromkeys(LIFECYCLE.values())
}


def iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def job_view(job: Job) -> dict[str, Any]:
    link = f"{PREFIX}/jobs/{job.id}"
    return {
        "id": job.id,
        "status": LIFECYCLE[job.state],
        "errorCode": job.error_code,
        "pagesDone": job.pages_done,
        "pagesTotal": job.pages_total,
        "profile": job.ocr_profile,
        "externalContext": job.external_context,
        "created": iso(job.created_at),
        "updated": iso(job.updated_at),
        "links": {"self": link, "result": f"{link}/result"},
    }
