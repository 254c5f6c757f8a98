"""Acceptance (issue 30): a cluster of three "hosts" on one PostgreSQL and one robot folder,
each a worker and a robot in a UTS namespace of its own (`unshare --uts`: its own host name),
host B's clock 5 minutes ahead and host C's 5 minutes behind (Debian's `faketime`). Thirty
two-page jobs complete once each with their own text; no lease or claim is taken from a live
process; nothing times out early. Host B is then killed mid-run (SIGKILL, worker and robot),
and A and C finish every job within lease + claim timeout + 30 s."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cora_ocr.config import load_settings
from cora_ocr.jobs import FileBatchRequest, FileRef
from cora_ocr.robot import samples
from cora_ocr.robot.render import words_of_alto
from cora_ocr.services import build_services
from cora_ocr.statuses import JobState
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from tests.conftest import new_pg_schema
from tests.support.waiting import wait_until

JOBS = 30
LEASE = 5
CLAIM_TIMEOUT = 5
HOSTS = {"host-a": "", "host-b": "+5m", "host-c": "-5m"}  # faketime's offsets
FAKETIME = shutil.which("faketime")

pytestmark = pytest.mark.skipif(FAKETIME is None, reason="Debian's faketime is needed")


@dataclass
class Host:
    name: str
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def kill(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)


def start_host(name: str, skew: str, env: dict[str, str], folder: Path) -> Host:
    processes, logs = [], []
    metrics = folder / f"metrics-{name}"  # each host's own (prometheus_client's files)
    metrics.mkdir()
    for kind, args in (("worker", ["worker", "--name", f"{name}-worker"]), ("robot", ["robot"])):
        inner = [sys.executable, "-m", "cora_ocr.cli", "--log-level", "INFO", *args]
        if skew:
            inner = [str(FAKETIME), "-f", skew, *inner]
        log = folder / f"{name}-{kind}.log"
        with log.open("wb") as stderr:
            processes.append(
                subprocess.Popen(
                    ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name, *inner],
                    env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,
                )
            )
        logs.append(log)
    return Host(name, processes, logs)


@contextlib.contextmanager
def cluster(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, Host]]]:
    schema = new_pg_schema()
    folders = tmp_path / "robot"
    env = {
        **os.environ,
        "CORA_OCR_DATABASE_URL": schema.url,
        "CORA_OCR_DATA_DIR": str(tmp_path / "shared"),  # the network share of every host
        "CORA_OCR_LEASE_SECONDS": str(LEASE),
        "CORA_OCR_POLL_SECONDS": "0.5",
        "CORA_OCR_PROFILES": json.dumps(
            {
                "Default": {
                    "input_dir": str(folders / "in"),
                    "output_dir": str(folders / "out"),
                    "dpi": 100,
                    "robot_processes": 1,
                    "claim_timeout_seconds": CLAIM_TIMEOUT,
                }
            }
        ),
    }
    store = Store(schema.url)
    upgrade(store.engine)
    store.dispose()
    hosts: dict[str, Host] = {}
    try:
        for name, skew in HOSTS.items():
            hosts[name] = start_host(name, skew, env, tmp_path)
        yield env, hosts
    finally:
        for host in hosts.values():
            host.stop()
        schema.drop()


def pages_of(job: int) -> list[list[str]]:
    return [samples.sample_lines(job * 10 + page, count=4, words_per_line=5) for page in (0, 1)]


def test_three_hosts_with_skewed_clocks_complete_every_job_once_and_survive_one_dying(
    tmp_path: Path,
) -> None:
    with cluster(tmp_path) as (env, hosts):
        settings = load_settings(environ=env)
        store = Store(settings.effective_database_url)
        services = build_services(settings, store)  # this process's clock is right
        files = settings.data_dir / "connections" / "CoraOCRExternalConnection"
        (files / "in").mkdir(parents=True)
        jobs = {}
        for n in range(JOBS):
            samples.write_pdf(files / "in" / f"doc-{n}.pdf", pages_of(n))
            request = FileBatchRequest(
                600,
                f"ctx-{n}",
                FileRef("CoraOCRExternalConnection", "in", f"doc-{n}.pdf"),
                "Default",
                FileRef("CoraOCRExternalConnection", "out", f"doc-{n}.xml"),
                "Overwrite",
            )
            jobs[services.jobs.submit(request)] = n

        def completed() -> int:
            return sum(services.jobs.show(job).state == JobState.COMPLETED.value for job in jobs)

        try:
            wait_until(lambda: completed() >= JOBS // 3, 180, "a third of the jobs done")
            killed_at = time.monotonic()
            before_kill = {name: host.log_text() for name, host in hosts.items()}
            hosts["host-b"].kill()
            wait_until(
                lambda: all(JobState(services.jobs.show(job).state).is_final for job in jobs),
                LEASE + CLAIM_TIMEOUT + 30,
                "every job final after host B died",
            )
            finished_after = time.monotonic() - killed_at
            shown = {job: services.jobs.show(job) for job in jobs}
        finally:
            store.dispose()

    failures = {
        job: (j.state, j.error_code, j.error_reason)
        for job, j in shown.items()
        if j.state != "completed"
    }
    assert failures == {}, failures  # nothing timed out early, nothing failed
    for job, n in jobs.items():
        events = shown[job].events
        assert sum(event.to_state == "completed" for event in events) == 1, job
        expected = " ".join(" ".join(lines) for lines in pages_of(n))
        text = " ".join(words_of_alto((files / "out" / f"doc-{n}.xml").read_bytes()))
        assert samples.character_error_rate(expected, text) < 0.1, (n, text[:200])
    # Before host B died, nobody took anything from anybody: no worker resumed another's
    # job, no robot took a claim back.
    for name, text in before_kill.items():
        assert "took back" not in text, name
    resumed = [
        event.reason
        for job in shown.values()
        for event in job.events
        if event.reason and "expired; resumed" in event.reason
    ]
    assert all("host-b-worker" in reason.split(";")[0] for reason in resumed), resumed
    taken_after = hosts["host-a"].log_text() + hosts["host-c"].log_text()
    for line in taken_after.splitlines():
        if "took back" in line:
            assert "host-b" in line, line  # only the dead host's claims
    assert finished_after <= LEASE + CLAIM_TIMEOUT + 30
