"""The operator's view (issue 16): GET /metrics in Prometheus format, JSON log lines with every
field, one access-log line per request."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cora_ocr import metrics
from cora_ocr.config import Settings
from cora_ocr.metrics import Metrics
from cora_ocr.statuses import Ending
from cora_ocr.store.records import JobCounts
from cora_ocr.web.observe import Observer
from cora_ocr.web.proxy import PROXIED
from tests.conftest import LiveServer, Pipeline, Strict, refused_caller
from tests.support.factories import file_ref
from tests.support.processes import free_port
from tests.support.waiting import read_line

CLI = [sys.executable, "-m", "cora_ocr.cli"]
TNS = "http://genpact.com/cora/orchestration/ocr/1.0.0/api/"


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = requests.get(base + "/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_soap_calls_and_a_completed_job(
    pipeline: Pipeline, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "JOBS_CACHE_SECONDS", 0.0)  # read the jobs table every scrape
    before = scrape(server.base)
    pipeline.source("scan.png", b"one page")
    job_id = pipeline.submit(
        InputFile=file_ref("scan.png", "in"), OutPutFile=file_ref("scan.xml", "out")
    )
    queued = scrape(server.base)
    assert value(queued, "cora_ocr_jobs", state="queued") == 1
    assert value(queued, "cora_ocr_queue_depth") == 1
    for _ in range(3):
        pipeline.status(job_id)
    pipeline.drain()
    # What a robot reports as it works (the simulated one does not): one page of one.
    pipeline.profile.progress_path(pipeline.robot_name(job_id)).write_text("1 1")
    pipeline.robot.process_all()
    pipeline.drain()
    assert pipeline.status(job_id) == ("Completed", "NoError")
    after = scrape(server.base)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    soap = {"face": "asmx", "binding": "soap11"}
    assert moved("cora_ocr_requests_total", operation="GetStatus", status="200", **soap) == 4
    assert moved("cora_ocr_requests_total", operation="FileBatch", status="200", **soap) == 1
    assert moved("cora_ocr_request_duration_seconds_count", operation="GetStatus", **soap) == 4
    assert moved("cora_ocr_job_duration_seconds_count", state="completed") == 1
    assert moved("cora_ocr_job_pages_count") == 1
    assert moved("cora_ocr_worker_claims_total") >= 2
    assert value(after, "cora_ocr_jobs", state="completed") == 1
    assert value(after, "cora_ocr_queue_depth") == 0
    assert (
        moved("cora_ocr_requests_total", face="metrics", binding="-", operation="-", status="200")
        >= 2
    )


def test_refusals_are_counted_by_cause(strict: Strict, server: LiveServer) -> None:
    before = scrape(server.base)
    for cause in ("unknown license", "not basic", "garbled basic"):
        auth, headers, _app_id = refused_caller(strict, cause)
        reply = requests.get(
            strict.url + "/GetStatus?MasterWorkflowInstanceId=1",
            auth=auth,
            headers=headers,
            timeout=10,
        )
        assert reply.status_code == 401
    after = scrape(server.base)
    for cause in ("unknown license or app", "not basic", "garbled basic"):
        counted = value(after, "cora_ocr_refused_requests_total", status="401", cause=cause)
        assert (
            counted - value(before, "cora_ocr_refused_requests_total", status="401", cause=cause)
            == 1
        ), cause


def job_counts(pipeline: Pipeline) -> Callable[[], JobCounts]:
    return lambda: pipeline.services.job_store.counts(pipeline.clock.now())


def call(observer: Observer, environ: dict[str, Any]) -> tuple[int, bytes]:
    response = observer.metrics({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", **environ})
    return response.status, response.body


def test_metrics_are_refused_to_other_peers_unless_they_bring_the_token(
    pipeline: Pipeline,
) -> None:
    counts = job_counts(pipeline)
    settings = Settings(metrics_token="s3cret-token")
    observer = Observer(settings, counts, Metrics())
    assert call(observer, {"REMOTE_ADDR": "192.0.2.7"})[0] == 403
    bad = {"REMOTE_ADDR": "192.0.2.7", "HTTP_AUTHORIZATION": "Bearer wrong"}
    assert call(observer, bad)[0] == 403
    status, body = call(observer, {**bad, "HTTP_AUTHORIZATION": "Bearer s3cret-token"})
    assert status == 200 and b"cora_ocr_queue_depth" in body
    # Through a trusted proxy the caller may be anywhere (web/proxy.py): the token is needed.
    assert call(observer, {"REMOTE_ADDR": "127.0.0.1", PROXIED: True})[0] == 403
    assert call(observer, {"REMOTE_ADDR": "::1"})[0] == 200
    no_token = Observer(Settings(), counts, Metrics())  # no token configured: a bearer gets nothing
    assert call(no_token, {"REMOTE_ADDR": "192.0.2.7", "HTTP_AUTHORIZATION": "Bearer "})[0] == 403


def test_serve_logs_json_lines_with_job_ids_and_one_access_line_per_request(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_PORT": str(port),
        "CORA_OCR_LOG_FORMAT": "json",
        "CORA_OCR_PROFILES": json.dumps({"Default": {"robot_processes": 1}}),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [*CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    url = base + "/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
    try:
        assert process.stdout is not None
        assert "cora-ocr serving" in read_line(process.stdout, 60, "serve starts")
        envelope = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<FileBatch xmlns="{TNS}"><TimeOut>60</TimeOut><ExternalContext>j</ExternalContext>'
            "<InputFile><Connection>CoraOCRExternalConnection</Connection><RelativeLocation>in"
            "</RelativeLocation><FileName>missing.pdf</FileName></InputFile><OCRProfile>Default"
            "</OCRProfile><OutPutFile><Connection>CoraOCRExternalConnection</Connection>"
            "<RelativeLocation>out</RelativeLocation><FileName>m.xml</FileName></OutPutFile>"
            "<PutModel>Overwrite</PutModel></FileBatch></soap:Body></soap:Envelope>"
        )
        reply = requests.post(
            url,
            data=envelope,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}FileBatch"'},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        job_id = int(reply.text.split("MasterWorkflowInstanceId>")[1].split("<")[0])
        deadline = time.monotonic() + 30
        while True:  # the job fails at once: its input is missing
            status = requests.get(
                f"{url}/GetStatus", params={"MasterWorkflowInstanceId": job_id}, timeout=10
            )
            if "<Status>Failed</Status>" in status.text:
                break
            assert time.monotonic() < deadline, status.text
            time.sleep(0.1)
        samples = scrape(base)  # serve's values, from its processes' shared folder
        polls = int(
            value(
                samples,
                "cora_ocr_requests_total",
                face="asmx",
                binding="http-get",
                operation="GetStatus",
                status="200",
            )
        )
        assert polls >= 1
        assert value(samples, "cora_ocr_job_duration_seconds_count", state="failed") == 1
        assert (tmp_path / "data" / "metrics").is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    lines = [json.loads(line) for line in io.StringIO(err) if line.strip()]  # every one JSON
    job_lines = [line for line in lines if line.get("job_id") == job_id]
    assert any("queued -> processing_input" in line["message"] for line in job_lines)
    failed = [line for line in job_lines if line.get("error_code") == "InputFileNotFound"]
    assert failed and failed[0]["level"] == "INFO"
    access = [line for line in lines if line["logger"] == "cora_ocr.access"]
    by_path = [(line["method"], line["path"], line["operation"]) for line in access]
    assert (
        by_path.count(("POST", "/SequenceServices/coraOcrIntegration_v1.0.0.asmx", "FileBatch"))
        == 1
    )
    assert (
        by_path.count(
            ("GET", "/SequenceServices/coraOcrIntegration_v1.0.0.asmx/GetStatus", "GetStatus")
        )
        == polls
    )
    assert by_path.count(("GET", "/metrics", "-")) == 1
    assert len(access) == polls + 2
    post = access[0]
    assert (post["binding"], post["status"], post["peer"], post["license_id"]) == (
        "soap11",
        200,
        "127.0.0.1",
        "-",
    )
    assert post["bytes"] == len(reply.content) and post["duration_ms"] > 0


def test_bad_log_format_is_refused_with_the_field(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "profiles", "list"],
        env={**os.environ, "CORA_OCR_LOG_FORMAT": "xml", "CORA_OCR_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "log_format: 'xml' is not one of text, json" in done.stderr


def test_web_adds_up_the_metrics_of_its_processes(tmp_path: Path) -> None:
    """`cora-ocr web` with two processes: /metrics counts every request, whichever process
    answered it, and the access log has one line per request."""
    port = free_port()
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "CORA_OCR_PORT": str(port),
        "CORA_OCR_WEB_WORKERS": "2",
        "CORA_OCR_REQUIRE_HTTPS": "false",
        "CORA_OCR_ALLOW_ANONYMOUS": "true",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([*CLI, "web"], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        # gunicorn listens before its workers have loaded the app; each worker makes its
        # metrics as it loads (a file of its own): wait for both, so both can take requests.
        metrics_dir = tmp_path / "data" / "metrics"
        while len(list(metrics_dir.glob("counter_*.db"))) < 2:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        path = "/SequenceServices/coraOcrIntegration_v1.0.0.asmx/GetStatus"
        for n in range(40):  # a new connection each: both processes take some
            reply = requests.get(
                base + path,
                params={"MasterWorkflowInstanceId": n + 1},
                timeout=10,
                headers={"Connection": "close"},
            )
            assert reply.status_code == 200 and "NotFound" in reply.text
        samples = scrape(base)
        counted = value(
            samples,
            "cora_ocr_requests_total",
            face="asmx",
            binding="http-get",
            operation="GetStatus",
            status="200",
        )
        assert counted == 40
        pids = {  # counter_<pid>.db: one file per process that counted
            p.name.split("_")[-1].split(".")[0]
            for p in (tmp_path / "data" / "metrics").glob("counter_*.db")
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert len(pids) == 2, pids  # both processes wrote their values
    lines = log.read_text().splitlines()
    access = [line for line in lines if " cora_ocr.access: " in line]
    assert sum(f"GET {path} http-get GetStatus 200" in line for line in access) == 40
    assert sum("GET /metrics - - 200" in line for line in access) == 1


def test_failed_and_aborted_jobs_are_counted_by_how_they_ended(pipeline: Pipeline) -> None:
    """`cora_ocr_jobs_ended` reads the stored ending (issue 27), not the reason's words."""
    missing = pipeline.submit()  # no input file: fails InputFileNotFound
    aborted = pipeline.submit()
    pipeline.services.jobs.abort(aborted, actor="test")
    pipeline.drain()
    assert pipeline.status(missing) == ("Failed", "InputFileNotFound")
    observer = Observer(Settings(), job_counts(pipeline), Metrics())
    samples = {
        sample.labels["ending"]: sample.value
        for family in text_string_to_metric_families(
            call(observer, {"REMOTE_ADDR": "::1"})[1].decode()
        )
        if family.name == "cora_ocr_jobs_ended"
        for sample in family.samples
    }
    assert samples["input_missing"] >= 1 and samples["aborted"] >= 1
    assert set(samples) == {ending.value for ending in Ending}
