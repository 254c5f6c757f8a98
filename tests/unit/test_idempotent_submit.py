"""`POST /api/v1/jobs` with an `Idempotency-Key`: a retried submit makes one job, the same
key with another document is refused (422), a key is its caller's own and lasts 24 hours,
and a refused submit lets go of its key. In-process, on SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import requests

from cora_ocr.job_view import PREFIX
from cora_ocr.store.models import utcnow
from tests.conftest import Strict

PNG = b"\x89PNG\r\n\x1a\n" + b"page one"
OTHER_PNG = b"\x89PNG\r\n\x1a\n" + b"page two"


def api(strict: Strict) -> str:
    return strict.url.split("/SequenceServices/")[0] + PREFIX


def post(
    strict: Strict, auth: Any, key: str | None, document: bytes = PNG, **form: str
) -> requests.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return requests.post(
        f"{api(strict)}/jobs",
        files={"file": ("scan.png", document)},
        data=form,
        headers=headers,
        auth=auth,
        timeout=10,
    )


def jobs_of(strict: Strict, auth: Any) -> list[int]:
    listed = requests.get(f"{api(strict)}/jobs", auth=auth, timeout=10).json()["jobs"]
    return [job["id"] for job in listed]


def test_a_retried_submit_makes_one_job_and_answers_it_again(strict: Strict) -> None:
    auth = strict.credentials()
    first = post(strict, auth, "order-4711")
    assert first.status_code == 201, first.text
    again = post(strict, auth, "order-4711")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert jobs_of(strict, auth) == [first.json()["id"]]
    other = post(strict, auth, "order-4712")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert post(strict, auth, None).status_code == 201  # no key: a job each time
    assert post(strict, auth, None).status_code == 201
    assert len(jobs_of(strict, auth)) == 4


def test_the_same_key_with_another_document_is_refused(strict: Strict) -> None:
    auth = strict.credentials()
    assert post(strict, auth, "k-1").status_code == 201
    reused = post(strict, auth, "k-1", OTHER_PNG)
    assert reused.status_code == 422, reused.text
    assert "Idempotency-Key" in reused.json()["detail"]
    assert len(jobs_of(strict, auth)) == 1


def test_a_key_is_its_callers_own_and_lasts_a_day(strict: Strict) -> None:
    first, second = strict.credentials(), strict.credentials()
    mine = post(strict, first, "shared-key").json()["id"]
    theirs = post(strict, second, "shared-key")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine
    strict.clock.advance(24 * 3600 - 5)
    assert post(strict, first, "shared-key").json()["id"] == mine
    strict.clock.advance(10)  # a day has passed: the key makes a new job
    later = post(strict, first, "shared-key")
    assert later.status_code == 201 and later.json()["id"] != mine


def test_a_refused_submit_lets_go_of_its_key(strict: Strict) -> None:
    auth = strict.credentials()
    refused = post(strict, auth, "retry-me", timeout="0")
    assert refused.status_code == 400 and "timeout" in refused.json()["detail"]
    assert post(strict, auth, "retry-me", OTHER_PNG).status_code == 201  # not 422
    assert len(jobs_of(strict, auth)) == 1


def test_a_key_whose_first_request_is_still_working_answers_409(strict: Strict) -> None:
    auth = strict.credentials()
    principal = strict.licensing.authenticate(*auth, strict.clock.now(), any_region=True)
    store = strict.services.job_store
    digest = hashlib.sha256(PNG).hexdigest()
    owner = str(principal.license_pk)
    assert store.take_key(owner, "busy", digest, utcnow(), dt.timedelta(days=1)).new
    busy = post(strict, auth, "busy")
    assert busy.status_code == 409 and "still making" in busy.json()["detail"]


def test_a_malformed_key_is_named(strict: Strict) -> None:
    auth = strict.credentials()
    for key in ("has space", "x" * 256):
        bad = post(strict, auth, key)
        assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"], key
    assert jobs_of(strict, auth) == []
