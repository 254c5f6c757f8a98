"""Retention: jobs in a final state, finished longer ago than the retention period, are
deleted with their history, a batch at a time (so GetStatus never waits on more than one
batch's locks), and an uploaded job's document and result go with them.

Used by `cora-ocr jobs purge --older-than DAYS [--dry-run]` and, when `retention_days` is
set, by each worker once a day."""

from __future__ import annotations

import datetime as dt
import logging

from cora_ocr.connections import UPLOADS, Connections, remove_upload_folders
from cora_ocr.store.job_store import JobStore

log = logging.getLogger(__name__)
BATCH = 500


def purge(
    store: JobStore,
    connections: Connections,
    cutoff: dt.datetime,
    dry_run: bool = False,
    batch: int = BATCH,
) -> int:
    """Delete (or with dry_run, count) the final jobs finished before `cutoff`."""
    if dry_run:
        return store.count_expired(cutoff)
    uploads = connections.local_root(UPLOADS)
    purged = 0
    while True:
        rows = store.purge_expired(cutoff, batch)
        if not rows:
            break
        for row in rows:
            remove_upload_folders(
                uploads, row.input_connection, row.input_location, row.output_location
            )
        purged += len(rows)
    if purged:
        log.info("purged %d jobs finished before %s", purged, cutoff.isoformat(timespec="seconds"))
    return purged
