"""A worker in its own process, for crash tests: `python -m tests.support.worker_process CONFIG
WHEN STATE` runs a worker that stops dead (holding its lease) at `WHEN` (before/after) the
step of STATE, after printing `HOLDING <job id>`. The test then SIGKILLs it."""

from __future__ import annotations

import sys
import threading

from cora_ocr.config import load_settings
from cora_ocr.services import build_services
from cora_ocr.statuses import JobState
from cora_ocr.store import Store
from cora_ocr.worker.steps import Outcome


class HoldAt:
    def __init__(self, when: str, state: JobState) -> None:
        self.when, self.state = when, state

    def _hold(self, job_id: int) -> None:
        print(f"HOLDING {job_id}", flush=True)
        threading.Event().wait()  # until SIGKILL

    def before_step(self, job_id: int, state: JobState) -> None:
        if self.when == "before" and state is self.state:
            self._hold(job_id)

    def after_step(self, job_id: int, state: JobState, outcome: Outcome) -> None:
        if self.when == "after" and state is self.state:
            self._hold(job_id)


def main() -> None:
    config, when, state = sys.argv[1:4]
    settings = load_settings(config)
    services = build_services(settings, Store(settings.effective_database_url))
    worker = services.worker(name="doomed-worker", hooks=HoldAt(when, JobState(state)))
    print("READY", flush=True)
    worker.run()


if __name__ == "__main__":
    main()
