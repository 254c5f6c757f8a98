"""Retention (issue 16): final jobs that ended long enough ago are deleted with their
history, in batches, and an uploaded job's files go with them; nothing else is touched.
By hand (`cora-ocr jobs purge`) and by the worker when `retention_days` is set."""

from __future__ import annotations

import dataclasses
import datetime as dt

import requests
from sqlalchemy import select, update

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.jobs import FileBatchRequest, FileRef
from cora_ocr.retention import purge
from cora_ocr.services import Services, build_services
from cora_ocr.store import Job, JobEvent
from tests.conftest import LiveServer

NOW = dt.datetime.now(dt.UTC)
LONG_AGO = NOW - dt.timedelta(days=3650)  # older than anything the other tests leave
CUTOFF = NOW - dt.timedelta(days=3000)


def job(services: Services, state: str, ended: dt.datetime | None) -> int:
    ref = FileRef(DEFAULT_CONNECTION, "in", "a.png")
    out = FileRef(DEFAULT_CONNECTION, "out", "a.xml")
    job_id = services.jobs.submit(FileBatchRequest(300, "ctx", ref, "Default", out, "Overwrite"))
    age(services, job_id, state, ended)
    return job_id


def age(services: Services, job_id: int, state: str, ended: dt.datetime | None) -> None:
    with services.store.session.begin() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state=state, finished_at=ended, updated_at=ended or NOW)
        )


def present(services: Services, ids: list[int]) -> set[int]:
    with services.store.session() as session:
        jobs = set(session.scalars(select(Job.id).where(Job.id.in_(ids))))
        events = set(session.scalars(select(JobEvent.job_id).where(JobEvent.job_id.in_(ids))))
    assert events <= jobs, "no history is left without its job"
    return jobs


def test_old_final_jobs_go_with_their_history_and_files(
    server: LiveServer, services: Services
) -> None:
    old = [job(services, state, LONG_AGO) for state in ("completed", "failed", "aborted")]
    kept = [
        job(services, "completed", NOW - dt.timedelta(days=1)),  # too recent
        job(services, "queued", None),  # not final
    ]
    upload = requests.post(
        f"{server.base}/api/v1/jobs",
        files={"file": ("a.png", b"\x89PNG\r\n\x1a\npage")},
        timeout=10,
    ).json()["id"]
    age(services, upload, "completed", LONG_AGO)
    uploaded = services.jobs.get(upload)
    folder = services.settings.data_dir / "rest" / uploaded.input_location
    assert folder.is_dir()
    everything = [*old, *kept, upload]

    assert purge(services.job_store, services.connections, CUTOFF, dry_run=True) == 4
    assert present(services, everything) == set(everything)
    assert purge(services.job_store, services.connections, CUTOFF, batch=2) == 4
    assert present(services, everything) == set(kept)
    assert not folder.exists()
    assert services.jobs.status(old[0]).status.value == "NotFound"


def test_the_worker_purges_once_a_day_when_retention_is_set(services: Services) -> None:
    old = job(services, "completed", LONG_AGO)
    settings = dataclasses.replace(services.settings, retention_days=3000)
    worker = build_services(settings, services.store).worker(name="retention-worker")
    worker.run(burst=True)
    assert present(services, [old]) == set()
    again = job(services, "completed", LONG_AGO)
    worker.run(burst=True)  # the day is not over: not purged again yet
    assert present(services, [again]) == {again}
    off = build_services(services.settings, services.store).worker(name="no-retention")
    off.run(burst=True)
    assert present(services, [again]) == {again}
    purge(services.job_store, services.connections, CUTOFF)
