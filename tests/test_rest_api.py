"""The REST face's first endpoints (issue 14), against a running server on SQLite and
PostgreSQL that admits only licensed callers: the licenses endpoint in any region, a job
seen and aborted by its own license only, keyset pages, and RFC 9457 problems for every
refusal (401, 404, 405, 429 with Retry-After, 400 naming the field)."""

from __future__ import annotations

import requests

from cora_ocr.rest import PREFIX
from tests.conftest import Strict
from tests.factories import activity_header, file_batch_args

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
    after = requests.get(f"{api(strict)}/jobs/{job_id}", auth=owner, timeout=10).json()
    assert after["status"] == "Aborted"
    assert strict.services.jobs.show(job_id).state == "aborted"


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
