"""Schemathesis runs the REST face's OpenAPI document against the app (in-process: the
transport is not what is checked here) admitting licensed callers only (SQLite and
PostgreSQL): generated requests to every operation, no 5xx, every answer (status, content
type, headers, body) as the document says, requests without or with wrong credentials
refused. (Schemathesis's own pytest integration does not run under
pytest 9; its strategies are driven by Hypothesis here.)"""

from __future__ import annotations

import base64
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.conftest import Strict

PNG = b"\x89PNG\r\n\x1a\n page"


def test_every_answer_matches_the_openapi_document(strict: Strict) -> None:
    license_id, app_id = strict.credentials()
    token = base64.b64encode(f"{license_id}:{app_id}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}
    base = strict.url.split("/SequenceServices/")[0]
    # A job to be found: lists and ids then answer with documents, not only with problems.
    job = requests.post(f"{base}/api/v1/jobs", files={"file": ("a.png", PNG)}, headers=auth)
    assert job.status_code == 201
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6  # every operation but, maybe, the document itself

    for operation in operations:
        # A document's content cannot be said in JSON Schema (it must be a PDF, TIFF, PNG or
        # JPEG): generated uploads are refused with 415, as documented.
        upload = operation.label == "POST /api/v1/jobs"
        check(operation, auth, [positive_data_acceptance] if upload else [])


def check(operation: Any, auth: dict[str, str], excluded: list[Any]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=auth, excluded_checks=excluded)

    answers_as_documented()
