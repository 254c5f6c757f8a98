"""Licensing over real HTTP: each 401 cause, 429 with Retry-After, per-license job visibility,
Throttled jobs resuming when the (test-moved) clock passes the hour, HTTPS refusal."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path

import pytest
import requests

from cora_ocr.statuses import JobState
from tests.conftest import REFUSED_CAUSES, Strict, refused_caller
from tests.support.calls import get_status
from tests.support.factories import (
    activity_header,
    file_batch_args,
    file_ref,
)
from tests.support.robots import SimulatedRobot


def assert_401(reply: requests.Response) -> None:
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith('Basic realm="cora_ocr"')
    assert b"<faultcode>soap:Client</faultcode>" in reply.content


def test_valid_credentials_work_end_to_end(strict: Strict) -> None:
    auth = strict.credentials()
    client = strict.client(auth)
    job_id = client.service.FileBatch(**file_batch_args())
    status = client.service.GetStatus(_soapheaders={"ActivityMetadata": activity_header(job_id)})
    assert (status.Status, status.ErrorCode) == ("Queued", "NoError")
    job = strict.services.jobs.show(job_id)
    assert job.license_pk is not None and job.app_pk is not None


def test_missing_credentials(strict: Strict, caplog: pytest.LogCaptureFixture) -> None:
    assert_401(get_status(strict.url))
    reply = requests.get(strict.url + "/GetStatus", params={"MasterWorkflowInstanceId": "1"})
    assert reply.status_code == 401 and reply.headers["Content-Type"].startswith("text/plain")
    assert "WWW-Authenticate" in reply.headers


@pytest.mark.parametrize("cause", REFUSED_CAUSES)
def test_each_401_cause(strict: Strict, cause: str, caplog: pytest.LogCaptureFixture) -> None:
    auth, headers, app_id = refused_caller(strict, cause)
    with caplog.at_level(logging.WARNING):
        assert_401(get_status(strict.url, auth, headers))
    assert app_id not in caplog.text, "secrets never reach the log"


def test_request_quota_gives_429_with_retry_after(strict: Strict) -> None:
    auth = strict.credentials(request_quota=3)
    for _ in range(3):
        assert get_status(strict.url, auth).status_code == 200
    refused = get_status(strict.url, auth)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"  # the clock stands at hh:59:30
    assert b"soap:Client" in refused.content and b"3 requests per hour" in refused.content
    http_get = requests.get(strict.url + "/GetStatus", auth=auth)  # type: ignore[arg-type]
    assert http_get.status_code == 429 and http_get.headers["Retry-After"] == "30"
    strict.clock.advance(30)
    assert get_status(strict.url, auth).status_code == 200


def test_another_licenses_job_is_not_found(strict: Strict) -> None:
    mine, theirs = strict.client(strict.credentials()), strict.client(strict.credentials())
    job_id = mine.service.FileBatch(**file_batch_args())
    header = {"ActivityMetadata": activity_header(job_id)}
    assert theirs.service.GetStatus(_soapheaders=header).Status == "NotFound"
    assert mine.service.GetStatus(_soapheaders=header).Status == "Queued"


def test_throttled_jobs_resume_after_the_hour(strict: Strict, connection_root: Path) -> None:
    client = strict.client(strict.credentials(page_quota=1))
    for name in ("a.png", "b.png"):
        (connection_root / "in").mkdir(exist_ok=True)
        (connection_root / "in" / name).write_bytes(b"scan " + name.encode())
    first = client.service.FileBatch(
        **file_batch_args(InputFile=file_ref("a.png", "in"), OutPutFile=file_ref("a.xml", "out"))
    )
    strict.services.profiles.ensure_folders()
    worker = strict.services.worker(clock=strict.clock, name="throttle-worker")
    robot = SimulatedRobot(strict.services.profiles.get("Default"))  # type: ignore[arg-type]
    worker.run(burst=True)
    robot.process_all()
    strict.clock.advance(1)  # hh:59:31
    worker.run(burst=True)
    assert strict.services.jobs.show(first).state == "completed"

    second = client.service.FileBatch(
        **file_batch_args(InputFile=file_ref("b.png", "in"), OutPutFile=file_ref("b.xml", "out"))
    )
    worker.run(burst=True)
    job = strict.services.jobs.show(second)
    assert job.state == JobState.THROTTLED.value
    header = {"ActivityMetadata": activity_header(second)}
    assert client.service.GetStatus(_soapheaders=header).Status == "Queued"
    strict.clock.advance(10)  # still inside the hour: nothing moves
    worker.run(burst=True)
    assert strict.services.jobs.show(second).state == "throttled"

    strict.clock.advance(20)  # past the hour
    worker.run(burst=True)
    robot.process_all()
    strict.clock.advance(1)
    worker.run(burst=True)
    assert client.service.GetStatus(_soapheaders=header).Status == "Completed"
    states = [e.to_state for e in strict.services.jobs.show(second).events]
    assert states == [
        "queued",
        "throttled",
        "queued",
        "processing_input",
        "waiting_for_output",
        "delivering",
        "completed",
    ]


def test_failed_jobs_do_not_count_against_the_page_budget(strict: Strict) -> None:
    client = strict.client(strict.credentials(page_quota=1))
    worker = strict.services.worker(clock=strict.clock, name="w")
    failed = client.service.FileBatch(**file_batch_args())  # no input file: fails
    worker.run(burst=True)
    assert strict.services.jobs.show(failed).error_code == "InputFileNotFound"
    nxt = client.service.FileBatch(**file_batch_args())
    worker.run(burst=True)
    assert strict.services.jobs.show(nxt).state != "throttled"


def test_anonymous_only_for_loopback_hosts() -> None:
    from cora_ocr.config import Settings
    from cora_ocr.errors import SettingsError

    with pytest.raises(SettingsError, match="allow_anonymous: only for a loopback-only setup"):
        Settings(host="0.0.0.0", allow_anonymous=True)
    assert Settings(host="::1", allow_anonymous=True).allow_anonymous


def test_basic_header_parsing() -> None:
    from cora_ocr.errors import AuthenticationFailed
    from cora_ocr.web.guard import parse_basic

    token = base64.b64encode(b"lic:app:with:colons").decode()
    assert parse_basic(f"Basic {token}") == ("lic", "app:with:colons")
    for bad in ("Basic", "Digest x", "Basic " + base64.b64encode(b"nocolon").decode()):
        with pytest.raises(AuthenticationFailed):
            parse_basic(bad)


def test_suspension_applies_even_after_a_cached_success(strict: Strict) -> None:
    license_id, app_id = strict.credentials()
    assert get_status(strict.url, (license_id, app_id)).status_code == 200
    strict.licensing.set_license_suspended(license_id, True)
    assert_401(get_status(strict.url, (license_id, app_id)))


def test_usage_is_counted_per_app(strict: Strict) -> None:
    license_id, first_app = strict.credentials()
    second_app = strict.licensing.create_app(license_id, "billing")
    for _ in range(3):
        assert get_status(strict.url, (license_id, first_app)).status_code == 200
    assert get_status(strict.url, (license_id, second_app)).status_code == 200
    strict.licensing.flush()
    since = strict.clock.now() - dt.timedelta(hours=1)
    rows = {
        (name, requests)
        for name, _hint, _hour, requests, _jobs, _pages in strict.licensing.usage(license_id, since)
    }
    assert rows == {("intake", 3), ("billing", 1)}


def test_app_ids_never_look_like_command_line_options(strict: Strict) -> None:
    license_id, _ = strict.credentials()
    ids = [strict.licensing.create_app(license_id, f"app{n}") for n in range(300)]
    assert not [app_id for app_id in ids if app_id.startswith("-")]
    assert len(set(ids)) == 300
