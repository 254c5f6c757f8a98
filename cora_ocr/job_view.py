"""The JSON view of a job, shared by the REST face and the callbacks the worker sends: its
life-cycle status and the REST API's root (PREFIX) its links start with. Neither the REST
face's nor the worker's: both import it from here."""

from __future__ import annotations

from typing import Any

from cora_ocr.statuses import Priority, lifecycle_status
from cora_ocr.store.records import JobRecord

PREFIX = "/api/v1"


def status_of(job: JobRecord) -> str:
    """The job's life-cycle status (statuses.LIFECYCLE): its state, and how it ended."""
    return lifecycle_status(job.state, job.ending)


def formats_of(job: JobRecord) -> list[str]:
    """The formats a completed job delivered, the first at OutPutFile (none before)."""
    return job.result_formats.split(",") if job.result_formats else []


def iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def job_view(job: JobRecord) -> dict[str, Any]:
    link = f"{PREFIX}/jobs/{job.id}"
    return {
        "id": job.id,
        "status": status_of(job),
        "errorCode": job.error_code,
        "pagesDone": job.pages_done,
        "pagesTotal": job.pages_total,
        "profile": job.ocr_profile,
        "externalContext": job.external_context,
        "priority": Priority(job.priority).name,
        "confidence": job.confidence,
        "needsReview": job.needs_review,
        "formats": formats_of(job),
        "barcodes": job.barcodes,
        "pdfa": job.pdfa,
        "created": iso(job.created_at),
        "updated": iso(job.updated_at),
        "links": {"self": link, "result": f"{link}/result"},
    }
