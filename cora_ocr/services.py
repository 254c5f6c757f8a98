"""Builds the object graph once (store users, connections, profiles, use cases, workers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cora_ocr.clock import Clock
from cora_ocr.config import Settings
from cora_ocr.connections import UPLOADS, Connections
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Licensing
from cora_ocr.metrics import Metrics
from cora_ocr.profiles import Profiles
from cora_ocr.store import Store, store_for
from cora_ocr.store.job_store import JobStore
from cora_ocr.store.license_store import LicenseStore
from cora_ocr.wakeup import LocalWakeups
from cora_ocr.worker import Worker
from cora_ocr.worker.loop import WorkerConfig


@dataclass
class Services:
    settings: Settings
    store: Store
    job_store: JobStore
    license_store: LicenseStore
    connections: Connections
    profiles: Profiles
    jobs: JobService
    licensing: Licensing
    # The one clock of every time another process will compare (cora_ocr/clock.py).
    clock: Clock
    # This process's counters and histograms (served at /metrics).
    metrics: Metrics
    # This process's idle workers, woken by its own submissions.
    wakeups: LocalWakeups

    def worker(self, **kwargs: Any) -> Worker:
        config = WorkerConfig(
            lease_seconds=self.settings.lease_seconds,
            poll_seconds=self.settings.poll_seconds,
            max_attempts=self.settings.max_attempts,
            orphan_seconds=self.settings.orphan_seconds,
            retention_days=self.settings.retention_days,
        )
        kwargs.setdefault("callback_hosts", self.settings.callback_hosts)
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("licenses", self.license_store)
        kwargs.setdefault("metrics", self.metrics)
        kwargs.setdefault("wakeups", self.wakeups)
        return Worker(self.job_store, self.connections, self.profiles, config, **kwargs)


def build_services(
    settings: Settings,
    store: Store | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    wakeups: LocalWakeups | None = None,
) -> Services:
    """Every long-lived object of a process, from its settings: the store (and its GetStatus
    reader) unless given, the doors to job and license data, the connections, the profiles,
    the use cases, the clock, the metrics and the wakeups of idle workers (a process makes
    one of each; tests share some between the services they build); each is handed down
    from here, none is made at import."""
    store = store or store_for(settings)
    connections = Connections(
        settings.effective_connections,
        {UPLOADS: settings.data_dir / "rest"},
        settings.effective_access,
    )
    profiles = Profiles.from_settings(settings)
    clock = clock or store.clock()
    job_store, license_store = JobStore(store), LicenseStore(store)
    wakeups = wakeups or LocalWakeups()
    jobs = JobService(
        job_store, connections, profiles, settings.max_timeout_seconds, clock, wakeups
    )
    licensing = Licensing(license_store, settings.region)
    return Services(
        settings,
        store,
        job_store,
        license_store,
        connections,
        profiles,
        jobs,
        licensing,
        clock,
        metrics or Metrics(),
        wakeups,
    )
