"""The REST face's first endpoints (issue 14), against a running server on SQLite and
PostgreSQL that admits only licensed callers: the licenses endpoint in any region, a job
seen and aborted by its own license only, keyset pages, and RFC 9457 problems for every
refusal (401, 404, 405, 429 with Retry-After, 400 naming the field)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import zeep

from cora_ocr.job_view import PREFIX
from cora_ocr.services import Services
from cora_ocr.statuses import Ending, JobState
from cora_ocr.store.job_store import Move
from tests.conftest import REFUSED_CAUSES, LiveServer, Pipeline, RunService, Strict, refused_caller
from tests.support.factories import activity_header, file_batch_args
from tests.support.robots import result_text

PROBLEM = "application/problem+json"


def api(strict: Strict) -> str:
    return strict.url.split("/SequenceServices/")[0] + PREFIX


def submit(strict: Strict, auth: tuple[str, str], context: str = "ctx-42") -> int:
    client = strict.client(auth)
    job_id: int = client.service.FileBatch(
        **file_batch_args(ExternalContext=context),
        _soapheaders={"ActivityMetadata": activity_header()},
    )
    return job_id


def assert_problem(reply: requests.Response, status: int, says: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"] == PROBLEM
    document = reply.json()
    assert document["status"] == status and says in document["detail"], document


def test_the_licenses_endpoint_shows_the_callers_license_and_this_hours_usage(
    strict: Strict,
) -> None:
    auth = strict.credentials(request_quota=500, page_quota=70)
    for _ in range(2):
        reply = requests.get(f"{api(strict)}/licenses", auth=auth, timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    document = reply.json()
    assert document["licenseId"] == auth[0]
    assert document["processingRegion"] == "eu"
    assert (document["hourlyRequestQuota"], document["hourlyPageQuota"]) == (500, 70)
    assert document["usage"]["requests"] == 2  # this request counts too
    assert document["usage"]["pages"] == 0
    assert 1 <= document["usage"]["secondsToNextHour"] <= 3600


def test_a_license_of_another_region_sees_its_license_and_nothing_else(strict: Strict) -> None:
    auth = strict.credentials(region="us")
    reply = requests.get(f"{api(strict)}/licenses", auth=auth, timeout=10)
    assert reply.status_code == 200 and reply.json()["processingRegion"] == "us"
    refused = requests.get(f"{api(strict)}/jobs", auth=auth, timeout=10)
    assert_problem(refused, 401, "do not grant access")
    assert refused.headers["WWW-Authenticate"].startswith("Basic")


def test_a_job_is_seen_and_aborted_by_its_own_license_only(strict: Strict) -> None:
    owner, other = strict.credentials(), strict.credentials()
    job_id = submit(strict, owner)
    seen = requests.get(f"{api(strict)}/jobs/{job_id}", auth=owner, timeout=10)
    assert seen.status_code == 200
    view = seen.json()
    assert (view["id"], view["status"], view["externalContext"]) == (job_id, "Queued", "ctx-42")
    assert view["profile"] == "Default" and view["links"]["self"] == f"{PREFIX}/jobs/{job_id}"
    assert view["created"].endswith("Z")
    assert_problem(
        requests.get(f"{api(strict)}/jobs/{job_id}", auth=other, timeout=10), 404, "no job"
    )
    assert_problem(
        requests.delete(f"{api(strict)}/jobs/{job_id}", auth=other, timeout=10), 404, "no job"
    )
    assert_problem(
        requests.get(f"{api(strict)}/jobs/999999999", auth=owner, timeout=10), 404, "no job"
    )

    deleted = requests.delete(f"{api(strict)}/jobs/{job_id}", auth=owner, timeout=10)
    assert deleted.status_code == 204 and deleted.content == b""
    # Deleted: gone from its caller's view (the seeds' "deletion of a job")...
    for method, path in (("GET", ""), ("GET", "/result"), ("DELETE", "")):
        gone = requests.request(
            method, f"{api(strict)}/jobs/{job_id}{path}", auth=owner, timeout=10
        )
        assert_problem(gone, 404, "no job")
    listed = requests.get(f"{api(strict)}/jobs", auth=owner, timeout=10).json()["jobs"]
    assert job_id not in [job["id"] for job in listed]
    # ... and kept for the operator, aborted, with the deletion in its history.
    kept = strict.services.jobs.show(job_id)
    assert kept.state == "aborted" and kept.deleted_at is not None
    assert [event.reason for event in kept.events][-2:] == ["aborted", "deleted by its caller"]


def test_a_job_made_without_credentials_is_no_licensed_callers_job(
    strict: Strict, zeep_client: zeep.Client
) -> None:
    # Made in the local setup (anonymous), before licensing was switched on.
    job_id = int(zeep_client.service.FileBatch(**file_batch_args(ExternalContext="local")))
    assert strict.services.jobs.get(job_id).license_pk is None
    caller = strict.credentials()
    assert_problem(
        requests.get(f"{api(strict)}/jobs/{job_id}", auth=caller, timeout=10), 404, "no job"
    )
    assert_problem(
        requests.delete(f"{api(strict)}/jobs/{job_id}", auth=caller, timeout=10), 404, "no job"
    )
    listed = requests.get(f"{api(strict)}/jobs", auth=caller, timeout=10).json()["jobs"]
    assert job_id not in [job["id"] for job in listed]
    answer = strict.client(caller).service.GetStatus(
        _soapheaders={"ActivityMetadata": activity_header(job_id)}
    )
    assert (answer.Status, answer.ErrorCode, answer.ExternalContext) == (
        "NotFound",
        "NoError",
        None,
    )
    assert strict.services.jobs.show(job_id).state == "queued"  # untouched
    # The local setup's anonymous callers still see it (zeep_client: the anonymous server).
    assert (
        zeep_client.service.GetStatus(
            _soapheaders={"ActivityMetadata": activity_header(job_id)}
        ).Status
        == "Queued"
    )


def test_jobs_are_listed_newest_first_a_page_at_a_time(strict: Strict) -> None:
    owner, other = strict.credentials(), strict.credentials()
    mine = [submit(strict, owner, f"mine-{n}") for n in range(3)]
    submit(strict, other, "theirs")
    first = requests.get(f"{api(strict)}/jobs", params={"limit": 2}, auth=owner, timeout=10)
    assert first.status_code == 200
    page = first.json()
    assert [job["id"] for job in page["jobs"]] == mine[::-1][:2]
    second = requests.get(api(strict).removesuffix(PREFIX) + page["next"], auth=owner, timeout=10)
    assert [job["id"] for job in second.json()["jobs"]] == mine[:1]
    assert "next" not in second.json()
    queued = requests.get(
        f"{api(strict)}/jobs", params={"status": "Queued"}, auth=owner, timeout=10
    )
    assert [job["id"] for job in queued.json()["jobs"]] == mine[::-1]
    none = requests.get(
        f"{api(strict)}/jobs", params={"status": "Completed"}, auth=owner, timeout=10
    )
    assert none.json()["jobs"] == []


def test_refusals_are_problem_documents(strict: Strict) -> None:
    auth = strict.credentials()
    base = api(strict)
    missing = requests.get(f"{base}/jobs", timeout=10)
    assert_problem(missing, 401, "credentials are required")
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    assert_problem(
        requests.get(f"{base}/jobs", params={"status": "Done"}, auth=auth, timeout=10),
        400,
        "'Done' is not one of Queued",
    )
    assert_problem(
        requests.get(f"{base}/jobs", params={"limit": "0"}, auth=auth, timeout=10),
        400,
        "outside 1..200",
    )
    assert_problem(
        requests.get(f"{base}/jobs", params={"after": "x"}, auth=auth, timeout=10),
        400,
        "not an integer",
    )
    unknown = requests.get(f"{base}/nothing", auth=auth, timeout=10)
    assert unknown.status_code == 404 and unknown.headers["Content-Type"] == PROBLEM
    put = requests.put(f"{base}/jobs/1", auth=auth, timeout=10)
    assert put.status_code == 405 and put.headers["Content-Type"] == PROBLEM
    assert set(put.headers["Allow"].split(", ")) >= {"GET", "DELETE"}


def test_the_request_quota_applies_with_retry_after(strict: Strict) -> None:
    auth = strict.credentials(request_quota=1)
    assert requests.get(f"{api(strict)}/jobs", auth=auth, timeout=10).status_code == 200
    refused = requests.get(f"{api(strict)}/jobs", auth=auth, timeout=10)
    assert_problem(refused, 429, "quota")
    assert refused.headers["Retry-After"] == "30"  # the clock stands 30 s before the hour


PNG = b"\x89PNG\r\n\x1a\n" + b"page one"  # what sniffing and the simulated robot need


def create(
    base: str, auth: Any, data: bytes, name: str = "scan.png", **fields: str
) -> requests.Response:
    return requests.post(
        f"{base}/jobs", files={"file": (name, data)}, data=fields, auth=auth, timeout=10
    )


def test_an_uploaded_document_becomes_a_job_and_its_result_downloads(
    server: LiveServer, pipeline: Pipeline
) -> None:
    base = server.base + PREFIX
    reply = create(base, None, PNG, externalContext="invoice-17", profile="Default")
    assert reply.status_code == 201, reply.text
    job_id = reply.json()["id"]
    assert reply.headers["Location"] == f"{PREFIX}/jobs/{job_id}"
    assert (reply.json()["status"], reply.json()["externalContext"]) == ("Queued", "invoice-17")
    job = pipeline.services.jobs.show(job_id)  # what `cora-ocr jobs show` reads
    assert (job.input_connection, job.put_model) == ("@uploads", "FailIfExists")
    assert job.events[0].actor == "rest"
    not_yet = requests.get(f"{base}/jobs/{job_id}/result", timeout=10)
    assert_problem(not_yet, 409, "is Queued")

    pipeline.drain()
    assert pipeline.robot.process_all() == 1
    pipeline.drain()
    assert requests.get(f"{base}/jobs/{job_id}", timeout=10).json()["status"] == "Completed"
    result = requests.get(f"{base}/jobs/{job_id}/result", timeout=10)
    assert result.status_code == 200 and result.headers["Content-Type"] == "application/xml"
    assert result.content == result_text("document.png", PNG)

    uploads = pipeline.services.settings.data_dir / "rest"
    folders = [uploads / job.input_location, uploads / job.output_location]
    assert all(folder.is_dir() for folder in folders)
    assert requests.delete(f"{base}/jobs/{job_id}", timeout=10).status_code == 204
    assert_problem(requests.get(f"{base}/jobs/{job_id}/result", timeout=10), 404, "no job")
    assert not any(folder.exists() for folder in folders)


def test_uploads_are_judged_by_their_content_and_refusals_store_nothing(
    server: LiveServer, services: Services
) -> None:
    base = server.base + PREFIX
    uploads = services.settings.data_dir / "rest"
    before = len(services.jobs.list(limit=10_000))
    inbox_before = set((uploads / "inbox").iterdir()) if (uploads / "inbox").exists() else set()
    assert_problem(create(base, None, b""), 415, "file: the document is empty")
    assert_problem(
        create(base, None, b"just some text", "scan.png"), 415, "its content is not a document"
    )
    assert_problem(create(base, None, PNG, profile="Nope"), 400, "no profile 'Nope'")
    assert_problem(create(base, None, PNG, colour="red"), 400, "is not a field of a job")
    assert_problem(create(base, None, PNG, timeout="0"), 400, "outside 1..")
    assert_problem(create(base, None, PNG, callbackUrl="http://127.0.0.1:9/"), 400, "callbackUrl")
    stray = requests.post(
        f"{base}/jobs", files={"file": ("a.png", PNG), "other": ("x", b"y")}, timeout=10
    )
    assert_problem(stray, 400, "other: is not a field of a job")
    no_file = requests.post(f"{base}/jobs", files={"profile": (None, "Default")}, timeout=10)
    assert_problem(no_file, 400, "file: is required")
    as_json = requests.post(f"{base}/jobs", json={"file": "x"}, timeout=10)
    assert_problem(as_json, 415, "multipart/form-data")
    assert len(services.jobs.list(limit=10_000)) == before
    assert (set((uploads / "inbox").iterdir()) if (uploads / "inbox").exists() else set()) == (
        inbox_before
    )
    assert list((uploads / "staging").iterdir()) == []
    # The name does not matter, the content does: PNG bytes called .pdf are a PNG.
    accepted = create(base, None, PNG, "scan.pdf")
    assert accepted.status_code == 201
    assert services.jobs.get(accepted.json()["id"]).input_name == "document.png"


def test_uploads_over_the_limit_are_refused(running_service: RunService) -> None:
    base = running_service(max_upload_bytes=4096).base + PREFIX
    assert create(base, None, PNG + b"x" * 3000).status_code == 201
    assert_problem(create(base, None, PNG + b"x" * 5000), 413, "exceeds 4096 bytes")


def test_a_soap_caller_cannot_name_the_upload_connection(zeep_client: zeep.Client) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        zeep_client.service.FileBatch(
            **file_batch_args(
                InputFile={
                    "Connection": "@uploads",
                    "RelativeLocation": "inbox",
                    "FileName": "a.png",
                }
            )
        )
    assert "unknown connection '@uploads'" in str(refused.value)


def test_a_job_stopped_by_its_license_shows_license_error(strict: Strict) -> None:
    license_id, app_id = strict.credentials()
    other_app = strict.licensing.create_app(license_id, "second")
    created = requests.post(
        f"{api(strict)}/jobs", files={"file": ("a.png", PNG)}, auth=(license_id, app_id), timeout=10
    )
    job_id = created.json()["id"]
    strict.licensing.set_app_enabled(license_id, app_id, False)
    strict.services.worker(clock=strict.clock, name="license-worker").run(burst=True)
    auth = (license_id, other_app)
    view = requests.get(f"{api(strict)}/jobs/{job_id}", auth=auth, timeout=10).json()
    assert view["status"] == "LicenseError"
    listed = requests.get(
        f"{api(strict)}/jobs", params={"status": "LicenseError"}, auth=auth, timeout=10
    )
    assert [job["id"] for job in listed.json()["jobs"]] == [job_id]
    aborted = requests.get(
        f"{api(strict)}/jobs", params={"status": "Aborted"}, auth=auth, timeout=10
    )
    assert aborted.json()["jobs"] == []


@pytest.mark.parametrize("cause", REFUSED_CAUSES)
def test_each_401_cause_on_every_endpoint(strict: Strict, cause: str) -> None:
    auth, headers, _app_id = refused_caller(strict, cause)
    base = api(strict)
    calls = [
        ("GET", f"{base}/jobs", {}),
        ("POST", f"{base}/jobs", {"files": {"file": ("a.png", PNG)}}),
        ("GET", f"{base}/jobs/1", {}),
        ("DELETE", f"{base}/jobs/1", {}),
        ("GET", f"{base}/jobs/1/result", {}),
    ]
    if cause != "other region":  # the licenses endpoint answers in every region
        calls.append(("GET", f"{base}/licenses", {}))
    for method, url, extra in calls:
        reply = requests.request(method, url, auth=auth, headers=headers, timeout=10, **extra)
        assert reply.status_code == 401, (method, url, reply.text)
        assert reply.headers["Content-Type"] == PROBLEM
        assert reply.headers["WWW-Authenticate"].startswith("Basic")


def test_a_jobs_rest_status_is_its_stored_ending_whatever_its_reason_says(strict: Strict) -> None:
    """Issue 27: rewording a reason changes no API status. Two failed jobs whose reasons read
    alike, one ended as an unreadable document, one as an engine error; an aborted job whose
    reason reads like a license's but was aborted by its caller."""
    auth = strict.credentials()
    unreadable, engine, aborted = (submit(strict, auth) for _ in range(3))
    same = "the document could not be read"
    for job_id, target, ending in (
        (unreadable, JobState.FAILED, Ending.UNSUPPORTED_MEDIA),
        (engine, JobState.FAILED, Ending.ENGINE_ERROR),
        (aborted, JobState.ABORTED, None),
    ):
        reason = same if target is JobState.FAILED else "license error: but not really"
        move = Move(JobState.QUEUED, target, actor="test", reason=reason, ending=ending)
        assert strict.services.job_store.move(job_id, move, strict.clock.now())
    statuses = {
        job_id: requests.get(f"{api(strict)}/jobs/{job_id}", auth=auth, timeout=10).json()["status"]
        for job_id in (unreadable, engine, aborted)
    }
    assert statuses == {
        unreadable: "UnsupportedMediaType",
        engine: "ProcessingError",
        aborted: "Aborted",
    }
    for status, expected in (
        ("UnsupportedMediaType", [unreadable]),
        ("ProcessingError", [engine]),
        ("Aborted", [aborted]),
        ("LicenseError", []),
    ):
        listed = requests.get(
            f"{api(strict)}/jobs", params={"status": status}, auth=auth, timeout=10
        )
        assert [job["id"] for job in listed.json()["jobs"]] == expected, status
