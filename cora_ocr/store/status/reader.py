"""What GetStatus reads of a job, and how: one StatusReader per store, chosen where the
services are built (setting `status_reads`, cora_ocr/services.py).

- "core": SQLAlchemy Core as its documentation writes it (store/status/reads.py: Reads);
- "compiled": the statement compiled once and run on a DBAPI connection each process holds,
  prepared once per connection on PostgreSQL (store/status/reads.py: CompiledReads, PreparedReads);
- "kept": "compiled", and the rows kept between changes (store/status/kept.py), on PostgreSQL
  and on a SQLite database file.

Store (store/engine.py) builds the one its `status_reads` names.

The store tells its reader of every change it commits to a column GetStatus reads
(`changed`, from the one update path in store/job_queries.py); on PostgreSQL a trigger tells the
other processes (migration 0009, whose column list tests/integration/test_status_rows.py holds
against STATUS_COLUMNS). Nothing here starts a thread before the first read: the kept rows'
listener starts with the first GetStatus of the process that answers it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import bindparam, select

from cora_ocr.store.models import Job
from cora_ocr.store.status.kept import StatusRows
from cora_ocr.store.status.reads import Reads


class StatusRow(NamedTuple):
    """What GetStatus needs of one job."""

    state: str
    error_code: str
    external_context: str | None
    license_pk: int | None
    start_by: int | None


STATUS = select(
    Job.state, Job.error_code, Job.external_context, Job.license_pk, Job.start_by
).where(Job.id == bindparam("job_id"))
# The columns GetStatus reads: a change to any of them forgets a kept row.
STATUS_COLUMNS = frozenset(column.key for column in STATUS.selected_columns)


class StatusReader:
    """Reads a job's status row straight from the database ("core", "compiled")."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    def read(self, job_id: int) -> StatusRow | None:
        row = self.reads.one(STATUS, {"job_id": job_id})
        return None if row is None else StatusRow(*row)

    def changed(self, job_ids: Iterable[int] | None) -> None:
        """These jobs' status changed (None: any job's), committed by this process."""
        return None

    def close(self) -> None:
        self.reads.dispose()


class KeptStatusReader(StatusReader):
    """Reads through `rows` kept between changes (store/status/kept.py), started on first use."""

    def __init__(self, reads: Reads, rows: StatusRows) -> None:
        super().__init__(reads)
        self.rows = rows
        self._started = False
        self._lock = threading.Lock()

    def read(self, job_id: int) -> StatusRow | None:
        if not self._started:
            self._start()
        rows = self.rows
        kept: StatusRow | None = rows.get(job_id)
        if kept is not None:
            return kept
        ticket = rows.ticket()
        found = super().read(job_id)
        rows.keep(job_id, found, ticket)
        return found

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                self.rows.start()
                self._started = True

    def changed(self, job_ids: Iterable[int] | None) -> None:
        self.rows.forget(None if job_ids is None else list(job_ids))

    def close(self) -> None:
        with self._lock:
            if self._started:
                self.rows.stop()
                self._started = False
        super().close()
