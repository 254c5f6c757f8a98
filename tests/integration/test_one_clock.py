"""One clock for a cluster (issue 30): every time another process will compare is read from
the database server's clock, so hosts whose own clocks are minutes apart agree on leases and
deadlines. The hosts here are clocks: a process's own clock set 5 minutes ahead or behind."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cora_ocr import clock as clocks
from cora_ocr.clock import DatabaseClock, SystemClock
from cora_ocr.jobs import FileBatchRequest, FileRef, JobService
from cora_ocr.services import Services
from cora_ocr.statuses import OcrStatus
from cora_ocr.store import Store

AHEAD, BEHIND = dt.timedelta(minutes=5), dt.timedelta(minutes=-5)
on_postgresql = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@dataclasses.dataclass
class HostClock:
    """A host's own clock, `skew` off the true time."""

    skew: dt.timedelta

    def now(self) -> dt.datetime:
        return SystemClock().now() + self.skew


def test_a_database_clock_reads_the_servers_time_whatever_this_hosts_says() -> None:
    server = HostClock(dt.timedelta(0))
    for host in (HostClock(AHEAD), HostClock(BEHIND)):
        clock = DatabaseClock(server.now, local=host)
        assert abs((clock.now() - server.now()).total_seconds()) < 0.5
        assert abs((clock.offset + host.skew).total_seconds()) < 0.5


def test_a_failed_read_keeps_the_last_difference_and_is_tried_again_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = HostClock(dt.timedelta(0))
    reads: list[str] = []
    away = [False]

    def read() -> dt.datetime:
        reads.append("away" if away[0] else "read")
        if away[0]:
            raise OSError("the database is away")
        return server.now()

    now = [1000.0]
    monkeypatch.setattr(clocks.time, "monotonic", lambda: now[0])
    clock = DatabaseClock(read, local=HostClock(AHEAD), sync_seconds=30)
    clock.now()
    clock.now()
    assert reads == ["read"]  # once per sync_seconds, not per call
    away[0] = True
    now[0] += 31  # time to read again: the read fails
    assert abs((clock.now() - server.now()).total_seconds()) < 0.5  # the last difference
    away[0] = False
    now[0] += clocks.RETRY_SECONDS  # tried again after RETRY_SECONDS, not sync_seconds
    clock.now()
    now[0] += 29
    clock.now()
    assert reads == ["read", "away", "read"]


def host(services: Services, skew: dt.timedelta) -> DatabaseClock:
    return DatabaseClock(services.store.database_time, local=HostClock(skew))


@on_postgresql
def test_a_live_lease_is_not_taken_by_a_host_whose_clock_runs_ahead(services: Services) -> None:
    """Host B's clock is 5 minutes ahead of host A's: with their own clocks, B took A's jobs
    from its live worker (issue 30: 13 of 30). With the database's, B waits for the lease."""
    assert isinstance(services.store.clock(), DatabaseClock)
    job_id = submit(services.jobs)
    a, b = host(services, BEHIND), host(services, AHEAD)
    lease = dt.timedelta(seconds=30)
    jobs = services.job_store
    held = jobs.claim("host-a", a.now(), lease, skip_locked=True)
    assert held is not None and held.job.id == job_id
    assert jobs.claim("host-b", b.now(), lease, skip_locked=True) is None
    # B's own clock would have said the lease ended minutes ago.
    expires = held.job.lease_expires_at
    assert expires is not None and HostClock(AHEAD).now() > expires
    later = b.now() + lease + dt.timedelta(seconds=1)  # once it has ended, B may take it
    taken = jobs.claim("host-b", later, lease, skip_locked=True)
    assert taken is not None and taken.job.id == job_id


@on_postgresql
def test_a_job_queued_on_one_host_is_not_timed_out_by_anothers_clock(
    services: Services,
) -> None:
    """A job must start within its TimeOut; the deadline written by a host whose clock runs
    behind is judged by a host whose clock runs ahead: with their own clocks, at once
    TimedOut (issue 30: 29 of 30 jobs); with the database's, not before its time."""
    behind = JobService(
        services.job_store, services.connections, services.profiles, 604_800, host(services, BEHIND)
    )
    ahead = JobService(
        services.job_store, services.connections, services.profiles, 604_800, host(services, AHEAD)
    )
    job_id = submit(behind, timeout=60)
    assert ahead.status(job_id).status is OcrStatus.Queued
    own_clocks = JobService(
        services.job_store, services.connections, services.profiles, 604_800, HostClock(AHEAD)
    )
    assert own_clocks.status(job_id).status is OcrStatus.Failed  # the failure this prevents


def submit(jobs: JobService, timeout: int = 600) -> int:
    ref = FileRef("CoraOCRExternalConnection", "in", "a.png")
    out = FileRef("CoraOCRExternalConnection", "out", "a.xml")
    return jobs.submit(FileBatchRequest(timeout, "ctx", ref, "Default", out, "Overwrite"))


def test_sqlite_is_one_host_and_reads_its_clock(tmp_path: object) -> None:
    store = Store(f"sqlite:///{tmp_path}/one.db")
    try:
        assert isinstance(store.clock(), SystemClock)
    finally:
        store.dispose()
