"""Retention: jobs in a final state, finished longer ago than the retention period, are
deleted with their history, a batch at a time (so GetStatus never waits on more than one
batch's locks), and an uploaded job's document and result go with them.

Used by `cora-ocr jobs purge --older-than DAYS [--dry-run]` and, when `retention_days` is
set, by each worker once a day."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import ColumnElement, and_, delete, func, select

from cora_ocr.connections import UPLOADS, Connections, remove_upload_folders
from cora_ocr.statuses import FINAL_STATES
from cora_ocr.store import Job, JobEvent, Store

log = logging.getLogger(__name__)
BATCH = 500


def _expired(cutoff: dt.datetime) -> ColumnElement[bool]:
    finished = func.coalesce(Job.finished_at, Job.updated_at)
    return and_(Job.state.in_([state.value for state in FINAL_STATES]), finished < cutoff)


def purge(
    store: Store,
    connections: Connections,
    cutoff: dt.datetime,
    dry_run: bool = False,
    batch: int = BATCH,
) -> int:
    """Delete (or with dry_run, count) the final jobs finished before `cutoff`."""
    if dry_run:
        with store.session() as session:
            return int(
                session.scalar(select(func.count()).select_from(Job).where(_expired(cutoff))) or 0
            )
    uploads = connections.local_root(UPLOADS)
    purged = 0
    while True:
        with store.session.begin() as session:
            rows = session.execute(
                select(Job.id, Job.input_connection, Job.input_location, Job.output_location)
                .where(_expired(cutoff))
                .order_by(Job.id)
                .limit(batch)
            ).all()
            ids = [row.id for row in rows]
            if not ids:
                break
            session.execute(delete(JobEvent).where(JobEvent.job_id.in_(ids)))
            session.execute(delete(Job).where(Job.id.in_(ids)))  # forgets every kept status
        for row in rows:
            remove_upload_folders(
                uploads, row.input_connection, row.input_location, row.output_location
            )
        purged += len(ids)
    if purged:
        log.info("purged %d jobs finished before %s", purged, cutoff.isoformat(timespec="seconds"))
    return purged
