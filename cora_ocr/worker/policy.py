"""What a job's license allows, asked by the worker and answered as values, never sleeps:
whether the job may go on at all, and whether its pages fit this hour's budget."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from cora_ocr.statuses import Ending, JobState
from cora_ocr.store.job_store import Budget, Move
from cora_ocr.store.license_store import LicenseStore
from cora_ocr.store.records import JobRecord, JobUpdate
from cora_ocr.worker.steps import Outcome

LICENSE_ERROR = "license error"


class LicensePolicy:
    """Owns the standing of licenses and the words of the page budget as the worker sees
    them (the budget itself is counted by JobStore.start, in the transaction that starts a
    job). It never authenticates callers (cora_ocr.licensing does) and never moves a job."""

    def __init__(self, licenses: LicenseStore) -> None:
        self.licenses = licenses

    def refusal(self, job: JobRecord, now: dt.datetime) -> Outcome | None:
        """Aborted with a "license error" reason if the job's license was suspended or has
        expired, or its app was disabled, since it was submitted; else None."""
        if job.license_pk is None:
            return None
        standing = self.licenses.standing(job.license_pk, job.app_pk)
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

    @staticmethod
    def throttled(start: Move) -> Callable[[Budget], Move]:
        """What a start becomes when its pages do not fit this hour's budget: Throttled
        until the hour renews."""

        def wait(budget: Budget) -> Move:
            until = budget.renews_at.isoformat(timespec="seconds")
            return dataclasses.replace(
                start,
                target=JobState.THROTTLED,
                reason=(
                    f"{budget.period} page budget: {budget.used} of {budget.quota} pages used,"
                    f" this job needs {budget.pages}; resumes at {until}"
                ),
                # None of the start's own columns: nothing was reserved or started.
                update=JobUpdate(next_attempt_at=budget.renews_at, retries=0, error_reason=None),
            )

        return wait
