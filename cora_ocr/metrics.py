"""Prometheus metrics (prometheus_client), served at GET /metrics.

Every process that serves, works or recognises counts into the same metrics. `serve` and `web`
run prometheus_client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR (default
`<data_dir>/metrics`, emptied at start; an operator's own value is kept) is set before
prometheus_client is first imported (cli/run.py, shared_metrics), so gunicorn's processes,
serve's robot processes and a `cora-ocr worker` started with the same variable on the same
machine all write their values there, and /metrics adds them up. Without it (tests, a
library user) the process's own registry is served: that of its Metrics, the one set of
counters and histograms a process makes where it builds its services and hands down.

Jobs by state and the queue depth are read from the database by /metrics itself, at most once
every JOBS_CACHE_SECONDS, never per request of the SOAP path.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from cora_ocr.store.records import JobCounts

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client's file of a process's live gauge values: gauge_live<mode>_<pid>.db
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")
JOBS_CACHE_SECONDS = 5.0


_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    """This process's counters and histograms. Made where the process builds its services
    (cora_ocr/services.py; a robot process: its own) and handed down, never at import. Each
    instance registers in its own `registry`, which /metrics serves when the processes share
    no multiprocess folder; when they do, prometheus_client writes every value there too."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cora_ocr_requests",
            "HTTP requests answered, by face (asmx, rest, health, metrics, other), binding"
            " (soap11, soap12, http-get, http-post, or -), operation and status",
            ["face", "binding", "operation", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "cora_ocr_request_duration_seconds",
            "Time to answer an HTTP request, body read to response built",
            ["face", "binding", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "cora_ocr_refused_requests",
            "Requests refused by the guard: 401 by cause (no credentials, not basic, garbled"
            " basic, unknown license or app, license suspended, app disabled, license expired,"
            " other region), 429 (request quota)",
            ["status", "cause"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "cora_ocr_job_duration_seconds",
            "From a job's submission to its final state, by final state",
            ["state"],
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 21600),
            registry=self.registry,
        )
        self.job_pages = Histogram(
            "cora_ocr_job_pages",
            "Pages of each completed job",
            buckets=(1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=self.registry,
        )
        self.robot_pages = Counter(
            "cora_ocr_robot_pages",
            "Pages recognised by the built-in robot, by profile",
            ["profile"],
            registry=self.registry,
        )
        self.worker_claims = Counter(
            "cora_ocr_worker_claims", "Jobs claimed by workers", registry=self.registry
        )
        self.worker_resumes = Counter(
            "cora_ocr_worker_resumes",
            "Claims of jobs whose previous worker stopped holding them",
            registry=self.registry,
        )
        self.jobs_need_review = Counter(
            "cora_ocr_jobs_need_review",
            "Jobs completed with a mean word confidence under their profile's review_below",
            ["profile"],
            registry=self.registry,
        )
        self.worker_lease_losses = Counter(
            "cora_ocr_worker_lease_losses",
            "Jobs a worker found were no longer its own mid-step",
            registry=self.registry,
        )


class JobsCollector:
    """Jobs by state and the queue depth (jobs due now and not held), read from the
    database at most every JOBS_CACHE_SECONDS."""

    def __init__(self, read: Callable[[], JobCounts]) -> None:
        self.read = read  # the store's (web/observe.py)
        self._lock = threading.Lock()
        self._read_at = -JOBS_CACHE_SECONDS
        self._counts = JobCounts({}, 0, {})

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._read_at < JOBS_CACHE_SECONDS:
                return
            self._counts = self.read()
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[Any]:
        from cora_ocr.statuses import JobState

        try:
            self._refresh()
        except Exception:  # the database is away: no job figures this scrape
            return
        jobs = GaugeMetricFamily("cora_ocr_jobs", "Jobs by internal state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], self._counts.by_state.get(state.value, 0))
        yield jobs
        yield GaugeMetricFamily(
            "cora_ocr_queue_depth", "Jobs due now and held by no worker", value=self._counts.due
        )
        from cora_ocr.statuses import Ending

        ended = GaugeMetricFamily(
            "cora_ocr_jobs_ended", "Failed and aborted jobs by how they ended", labels=["ending"]
        )
        for ending in Ending:
            ended.add_metric([ending.value], self._counts.by_ending.get(ending.value, 0))
        yield ended


class SilentRobotsCollector:
    """Jobs waiting on a profile no robot reads (robot_watch.py), per profile: 0 for a
    profile whose robot reads it. Read from the hot folders at each scrape."""

    def __init__(self, profiles: Callable[[], list[Any]]) -> None:
        self.profiles = profiles

    def collect(self) -> Iterator[Any]:
        from cora_ocr.robot_watch import watch

        waiting = GaugeMetricFamily(
            "cora_ocr_jobs_waiting_on_silent_robot",
            "Documents waiting past the claim timeout in a profile no robot reads",
            labels=["profile"],
        )
        for profile in self.profiles():
            seen = watch(profile)
            waiting.add_metric([profile.name], seen.waiting if seen.silent else 0)
        yield waiting


class Exposition:
    """What GET /metrics answers: every process's values, the job figures, and the profiles
    whose robots are silent."""

    def __init__(
        self,
        job_counts: Callable[[], JobCounts],
        metrics: Metrics,
        profiles: Callable[[], list[Any]] | None = None,
    ) -> None:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            self.registry = metrics.registry  # this process's own
        self._jobs = CollectorRegistry()  # the job figures: this process reads them itself
        self._jobs.register(JobsCollector(job_counts))
        if profiles is not None:
            self._jobs.register(SilentRobotsCollector(profiles))

    def render(self) -> tuple[str, bytes]:
        forget_gone_processes()
        return CONTENT_TYPE_LATEST, generate_latest(self.registry) + generate_latest(self._jobs)


def forget_gone_processes() -> None:
    """The live values of processes that no longer run, forgotten (multiprocess mode): where
    no supervisor said so (granian has no hook for a worker's end; a process killed outright
    says nothing either)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    pids = {int(match[1]) for name in names if (match := _LIVE_FILE.fullmatch(name))}
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            process_gone(pid)
        except PermissionError:  # another user's: running
            continue


def process_gone(pid: int) -> None:
    """Forget a stopped process's live values (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
