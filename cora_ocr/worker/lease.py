"""A held job's lease, renewed while a step runs (copies and robot waits can be long)."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from cora_ocr.clock import Clock
from cora_ocr.outages import Outage
from cora_ocr.store.job_store import JobStore

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews one job's lease every third of its length until stopped; `lost` once the lease
    is no longer this worker's (taken over, or the job aborted). A database hiccup is logged
    once and tried again at the next beat."""

    def __init__(
        self, store: JobStore, job_id: int, owner: str, clock: Clock, lease: dt.timedelta
    ) -> None:
        self.store, self.job_id, self.owner = store, job_id, owner
        self.clock, self.lease = clock, lease
        self.stopped = threading.Event()
        self.lost = False
        self.outage = Outage(f"lease heartbeat of job {job_id}", log)
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def _beat(self) -> None:
        interval = self.lease.total_seconds() / 3
        while not self.stopped.wait(interval):
            try:
                now = self.clock.now()
                if not self.store.heartbeat(self.job_id, self.owner, now, self.lease):
                    self.lost = True
                    return
            except Exception as error:
                self.outage.failed(error)
            else:
                self.outage.succeeded()

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        self.thread.join()
