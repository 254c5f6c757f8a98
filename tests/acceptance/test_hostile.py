"""Acceptance (hardening): a suite of hostile requests against a running `cora-ocr serve`,
each answered with the right status; no file is read, no outbound connection is made, and
legitimate callers, the worker and the robot keep working meanwhile. (How fast each answer
comes and the server's memory growth are printed by bench/hostile.py, not asserted here.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from cora_ocr.robot import samples
from tests.support.factories import (
    SOAP11_CT,
    action,
    envelope,
    file_batch_body,
    get_status_body,
    header_xml,
)
from tests.support.hostile_cases import CANARY, cases, send
from tests.support.processes import Service, Trap


class LegitimateCaller(threading.Thread):
    """Submits and polls, checking every answer, for as long as the hostile suite runs."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.service, self.stop = service, threading.Event()
        self.good, self.bad = 0, []  # type: ignore[var-annotated]

    def run(self) -> None:
        with requests.Session() as http:
            while not self.stop.is_set():
                submitted = http.post(
                    self.service.url,
                    data=envelope(file_batch_body()),
                    timeout=30,
                    headers={"Content-Type": SOAP11_CT, "SOAPAction": action("FileBatch")},
                )
                if submitted.status_code != 200:
                    self.bad.append(submitted.text)
                    continue
                job_id = int(submitted.text.split("<MasterWorkflowInstanceId>")[1].split("<")[0])
                status = http.post(
                    self.service.url,
                    data=envelope(get_status_body(), header_xml(job_id)),
                    timeout=30,
                    headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")},
                )
                if (
                    status.status_code == 200
                    and b"<ExternalContext>ctx</ExternalContext>" in status.content
                ):
                    self.good += 1
                else:
                    self.bad.append(status.text)


def test_hostile_suite(service: Service, tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY)
    trap = Trap()
    (service.files / "scans").mkdir(parents=True)
    lines = samples.sample_lines(seed=3, count=5)
    samples.write_png(service.files / "scans" / "real.png", lines)
    real = requests.post(
        service.url,
        timeout=30,
        data=envelope(
            file_batch_body().replace(
                "<RelativeLocation>in</RelativeLocation><FileName>a.png</FileName>",
                "<RelativeLocation>scans</RelativeLocation><FileName>real.png</FileName>",
            )
        ),
        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("FileBatch")},
    )
    real_id = int(real.text.split("<MasterWorkflowInstanceId>")[1].split("<")[0])
    caller = LegitimateCaller(service)
    caller.start()
    suite = cases(str(canary), trap.url)
    assert len(suite) >= 20
    failures = []
    try:
        for case in suite:
            status, text = send(service, case)
            if status != case.status or case.says not in text or CANARY in text:
                failures.append(f"{case.name}: {status} {text[-300:]!r}")
    finally:
        caller.stop.set()
        caller.join(timeout=30)
        trap.close()
    assert failures == []
    assert trap.connections == 0, "no request may make the server connect anywhere"
    assert caller.bad == [] and caller.good > 0

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = requests.get(
            f"{service.url}/GetStatus", params={"MasterWorkflowInstanceId": real_id}
        )
        if "<Status>Completed</Status>" in answer.text or "<Status>Failed</Status>" in answer.text:
            break
        time.sleep(0.2)
    assert "<Status>Completed</Status>" in answer.text, answer.text
