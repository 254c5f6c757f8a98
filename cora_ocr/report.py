"""Plain-text reports of jobs, for the command line."""

from __future__ import annotations

from cora_ocr.statuses import JobState, Priority
from cora_ocr.store.records import JobRecord


def describe_job(job: JobRecord) -> list[str]:
    """A job's fields, progress and full history (every transition, its time and reason).
    The job must have its events loaded (JobService.show does)."""
    state = JobState(job.state)
    pages = "" if job.pages_total is None else f"{job.pages_done or 0}/{job.pages_total}"
    rows = [
        ("id", job.id),
        ("status", f"{state.wire.value} ({state.value})"),
        ("error code", job.error_code),
        ("error reason", job.error_reason or ""),
        ("external context", job.external_context or ""),
        ("timeout", f"{job.timeout_seconds} s"),
        ("input", f"{job.input_connection}:{job.input_location}/{job.input_name}"),
        ("profile", job.ocr_profile),
        ("output", f"{job.output_connection}:{job.output_location}/{job.output_name}"),
        ("put model", job.put_model),
        ("robot file", job.robot_name or ""),
        ("pages", pages),
        ("priority", Priority(job.priority).name),
        ("formats", (job.result_formats or "").replace(",", ", ")),
        ("confidence", _confidence(job)),
        ("created", job.created_at.isoformat()),
        ("updated", job.updated_at.isoformat()),
    ]
    lines = [f"{label + ':':<18}{value}" for label, value in rows]
    if job.activity_metadata:
        lines.append("activity metadata:")
        lines += [f"  {key}: {value}" for key, value in job.activity_metadata.items()]
    lines.append("history:")
    for event in job.events:
        error = "" if event.error_code == "NoError" else f" [{event.error_code}]"
        reason = f" - {event.reason}" if event.reason else ""
        lines.append(
            f"  {event.at.isoformat()}  {event.from_state or '-'} -> {event.to_state}"
            f"{error} by {event.actor}{reason}"
        )
    return lines


def _confidence(job: JobRecord) -> str:
    if job.confidence is None:
        return ""
    found = job.confidence
    review = "; needs review" if job.needs_review else ""
    return (
        f"mean {found['mean']:.1f}, lowest {found['min']:.1f}, "
        f"{found['lowWords']:.0%} of words under 60{review}"
    )
