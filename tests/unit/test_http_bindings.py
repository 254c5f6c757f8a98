"""Acceptance 2: GetStatus over HTTP GET and POST, and their plain-text errors."""

from __future__ import annotations

import pytest
import requests
import zeep

from cora_ocr.namespaces import SERVICE_PATH
from tests.conftest import LiveServer
from tests.support.factories import file_batch_args
from tests.support.xmltree import assert_same_tree

TEXT_PLAIN = "text/plain; charset=utf-8"
DOCUMENT = """<?xml version="1.0" encoding="utf-8"?>
<OcrJobStatus xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://genpact.com/cora/orchestration/ocr/1.0.0/api/">
  <Status>{status}</Status>
  <ErrorCode>NoError</ErrorCode>{context}
</OcrJobStatus>
"""


def expected(status: str, context: str | None = None) -> bytes:
    extra = f"\n  <ExternalContext>{context}</ExternalContext>" if context else ""
    return DOCUMENT.format(status=status, context=extra).encode()


def fetch(
    http: requests.Session, server: LiveServer, verb: str, params: dict[str, str] | None
) -> requests.Response:
    url = server.url + "/GetStatus"
    if verb == "GET":
        return http.get(url, params=params)
    return http.post(url, data=params or {})


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_get_status_of_a_job(
    http: requests.Session, server: LiveServer, zeep_client: zeep.Client, verb: str
) -> None:
    job_id = zeep_client.service.FileBatch(**file_batch_args(ExternalContext="ctx-http"))
    reply = fetch(http, server, verb, {"MasterWorkflowInstanceId": str(job_id)})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert reply.content == expected("Queued", "ctx-http")  # indented exactly like ASMX
    assert_same_tree(reply.content, expected("Queued", "ctx-http"))


@pytest.mark.parametrize("verb", ["GET", "POST"])
@pytest.mark.parametrize(
    "params", [None, {"MasterWorkflowInstanceId": ""}, {"MasterWorkflowInstanceId": "99999999"}]
)
def test_without_a_known_id_is_not_found(
    http: requests.Session, server: LiveServer, verb: str, params: dict[str, str] | None
) -> None:
    reply = fetch(http, server, verb, params)
    assert reply.status_code == 200
    assert reply.content == expected("NotFound")


def test_zeep_over_the_http_get_port(server: LiveServer, zeep_client: zeep.Client) -> None:
    job_id = zeep_client.service.FileBatch(**file_batch_args())
    service = zeep_client.bind("CoraOcrIntegration", "CoraOcrIntegrationHttpGet")
    status = service.GetStatus(MasterWorkflowInstanceId=str(job_id))
    assert (status.Status, status.ErrorCode, status.ExternalContext) == (
        "Queued",
        "NoError",
        "ctx-42",
    )


@pytest.mark.parametrize("verb", ["GET", "POST"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "is not an integer"),
        ("1.5", "is not an integer"),
        (str(2**63), "64-bit"),
    ],
)
def test_bad_id_is_a_plain_text_500(
    http: requests.Session, server: LiveServer, verb: str, value: str, reason: str
) -> None:
    reply = fetch(http, server, verb, {"MasterWorkflowInstanceId": value})
    assert reply.status_code == 500
    assert reply.headers["Content-Type"] == TEXT_PLAIN
    assert reply.text.startswith("MasterWorkflowInstanceId: ") and reason in reply.text
    assert "\n" not in reply.text


@pytest.mark.parametrize(
    ("verb", "path", "words"),
    [
        ("GET", "/getstatus", "unrecognized"),  # method names are case-sensitive
        ("GET", "/Nope", "unrecognized"),
        ("GET", "/FileBatch", "SOAP only"),
        ("POST", "/FileBatch", "SOAP only"),
    ],
)
def test_unknown_http_operations(
    http: requests.Session, server: LiveServer, verb: str, path: str, words: str
) -> None:
    reply = http.request(verb, server.url + path)
    assert reply.status_code == 500
    assert reply.headers["Content-Type"] == TEXT_PLAIN
    assert words in reply.text


def test_post_with_a_non_form_body(http: requests.Session, server: LiveServer) -> None:
    reply = http.post(server.url + "/GetStatus", data=b"<x/>", headers={"Content-Type": "text/xml"})
    assert reply.status_code == 500
    assert reply.headers["Content-Type"] == TEXT_PLAIN
    assert "Request format is invalid" in reply.text


def test_other_paths_and_verbs(http: requests.Session, server: LiveServer) -> None:
    assert http.get(server.base + "/other").status_code == 404
    reply = http.put(server.url, data=b"x")
    assert reply.status_code == 405 and "POST" in reply.headers["Allow"]


def test_help_pages(http: requests.Session, server: LiveServer) -> None:
    page = http.get(server.url)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "FileBatch" in page.text and "GetStatus" in page.text
    op = http.get(server.url, params={"op": "FileBatch"})
    assert op.status_code == 200 and "SOAPAction" in op.text and "&lt;TimeOut&gt;" in op.text
    assert http.get(server.url, params={"op": "Nope"}).status_code == 500
    # The .asmx part of the path is matched without regard to case, like IIS.
    assert http.get(server.base + SERVICE_PATH.upper()).status_code == 200
