"""What a job's license allows, asked by the worker and answered as values, never sleeps:
whether the job may go on at all, and whether its pages fit this hour's budget."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from cora_ocr.statuses import Ending, JobState
from cora_ocr.store import Job, Store
from cora_ocr.store import licensing as usage
from cora_ocr.worker.steps import Outcome

LICENSE_ERROR = "license error"


class LicensePolicy:
    """Owns the page budget and the standing of licenses as the worker sees them. It never
    authenticates callers (cora_ocr.licensing does) and never moves a job itself."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def refusal(self, job: Job, now: dt.datetime) -> Outcome | None:
        """Aborted with a "license error" reason if the job's license was suspended or has
        expired, or its app was disabled, since it was submitted; else None."""
        if job.license_pk is None:
            return None
        with self.store.session() as session:
            standing = usage.standing(session, job.license_pk, job.app_pk)
        if standing is None:
            problem = "the license no longer exists"
        elif standing.suspended:
            problem = "the license is suspended"
        elif standing.expires_at is not None and standing.expires_at <= now:
            problem = f"the license expired at {standing.expires_at.isoformat(timespec='seconds')}"
        elif not standing.app_enabled:
            problem = "the app is disabled"
        else:
            return None
        return Outcome(
            JobState.ABORTED, reason=f"{LICENSE_ERROR}: {problem}", ending=Ending.LICENSE
        )

    def admit(self, session: Session, job: Job, start: Outcome, now: dt.datetime) -> Outcome:
        """A licensed job's start, in the transaction that commits it: its pages are reserved
        in this hour's budget under a lock on the license, so parallel workers never run past
        it; if they do not fit, the job is Throttled until the hour renews instead. A job
        larger than the whole budget runs alone in an hour nothing else has used."""
        pages = int(start.columns.get("pages_reserved") or 0)
        if job.license_pk is None or job.app_pk is None or pages == 0:
            return start
        quota = usage.lock_license(session, job.license_pk)
        hour = usage.hour_of(now)
        _requests, used = usage.license_usage(session, job.license_pk, hour)
        if quota is not None and used > 0 and used + pages > quota:
            until = hour + dt.timedelta(hours=1)
            return Outcome(
                JobState.THROTTLED,
                reason=(
                    f"hourly page budget: {used} of {quota} pages used, this job needs {pages};"
                    f" resumes at {until.isoformat(timespec='seconds')}"
                ),
                columns={"next_attempt_at": until},
            )
        usage.add_usage(session, job.license_pk, job.app_pk, hour, pages=pages)
        return start

    def record_completion(self, session: Session, job: Job, now: dt.datetime) -> None:
        """Count a completed job, in its transaction, in the hour it started; its pages were
        reserved then, corrected here to what the robot counted."""
        if job.license_pk is None or job.app_pk is None:
            return
        reserved = job.pages_reserved or 0
        pages = job.pages_total or reserved or 1
        hour = usage.hour_of(job.started_at or now)
        usage.add_usage(session, job.license_pk, job.app_pk, hour, jobs=1, pages=pages - reserved)
