"""The hourly page budget of a license: a decision the worker asks for, never a sleep."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from cora_ocr.store import Job, Store
from cora_ocr.store import licensing as usage


class PageBudget:
    def __init__(self, store: Store) -> None:
        self.store = store

    def throttled_until(self, job: Job, now: dt.datetime) -> dt.datetime | None:
        """The start of the next hour if the job's license has used its pages, else None."""
        if job.license_pk is None:
            return None
        hour = usage.hour_of(now)
        with self.store.session() as session:
            quota = usage.page_quota(session, job.license_pk)
            _requests, pages = usage.license_usage(session, job.license_pk, hour)
        if quota is None or pages < quota:
            return None
        return hour + dt.timedelta(hours=1)

    def record_completion(self, session: Session, job: Job, now: dt.datetime) -> None:
        """Count a completed job's pages (failed jobs never count), in its transaction."""
        if job.license_pk is None or job.app_pk is None:
            return
        pages = job.pages_total or 1
        usage.add_usage(
            session, job.license_pk, job.app_pk, usage.hour_of(now), jobs=1, pages=pages
        )
