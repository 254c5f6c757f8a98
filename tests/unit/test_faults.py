"""Acceptance 4: every fault path of docs/reference/contract.md: status, content type, code, message."""

from __future__ import annotations

import pytest
import requests

from cora_ocr.namespaces import SERVICE_PATH, SOAP11_ENV, SOAP12_ENV, TNS
from tests.conftest import LiveServer
from tests.support.calls import TEXT_PLAIN, fault_of, post11, post12
from tests.support.factories import (
    SOAP11_CT,
    action,
    envelope,
    file_batch_body,
    get_status_body,
    header_xml,
)

GET_STATUS = envelope(get_status_body())


# --- transport level -----------------------------------------------------------------
@pytest.mark.parametrize("body", [b"<soap:Envelope", b"not xml at all", b"\xff\xfe<bad/>", b""])
def test_malformed_xml_is_400(http: requests.Session, server: LiveServer, body: bytes) -> None:
    reply = post11(http, server, body, action("GetStatus"))
    assert reply.status_code == 400
    code, text = fault_of(reply)
    assert code == "soap:Client"
    assert "well-formed" in text or "empty" in text


def test_malformed_xml_soap12_is_400_sender(http: requests.Session, server: LiveServer) -> None:
    reply = post12(http, server, b"<soap:Envelope xmlns:soap='x'")
    assert reply.status_code == 400
    assert fault_of(reply)[0] == "soap:Sender"


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "", "multipart/form-data"]
)
def test_wrong_content_type_is_415(
    http: requests.Session, server: LiveServer, content_type: str
) -> None:
    reply = post11(http, server, GET_STATUS, action("GetStatus"), content_type=content_type)
    assert reply.status_code == 415
    assert reply.headers["Content-Type"] == TEXT_PLAIN
    assert "Content-Type" in reply.text and "\n" not in reply.text


def test_body_over_the_limit_is_413(http: requests.Session, server: LiveServer) -> None:
    limit = server.app.settings.max_request_bytes
    body = envelope(get_status_body() + "<!--" + "x" * limit + "-->")
    reply = post11(http, server, body, action("GetStatus"))
    # The HTTP server refuses it before buffering; the app's own check backs it up elsewhere.
    assert reply.status_code == 413


def test_app_refuses_a_body_over_its_limit(server: LiveServer) -> None:
    """Behind a server without a limit of its own (e.g. gunicorn), the app reads at most
    limit + 1 bytes and answers 413 with a fault naming the limit."""
    import io

    limit = server.app.settings.max_request_bytes
    body = envelope(get_status_body() + "<!--" + "x" * limit + "-->")
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": SERVICE_PATH,
        "CONTENT_TYPE": SOAP11_CT,
        "HTTP_SOAPACTION": action("GetStatus"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
    }
    response = server.app.dispatch(environ)
    assert response.status == 413
    assert b"soap:Client" in response.body and str(limit).encode() in response.body


# --- envelope -------------------------------------------------------------------------
def test_unknown_envelope_namespace_is_version_mismatch(
    http: requests.Session, server: LiveServer
) -> None:
    body = GET_STATUS.replace(SOAP11_ENV.encode(), b"urn:not-soap")
    reply = post11(http, server, body, action("GetStatus"))
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:VersionMismatch" and "urn:not-soap" in text


def test_soap12_envelope_as_text_xml_is_version_mismatch(
    http: requests.Session, server: LiveServer
) -> None:
    reply = post11(http, server, envelope(get_status_body(), soap12=True), action("GetStatus"))
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:VersionMismatch" and "SOAP 1.2" in text


def test_soap11_envelope_as_soap12_is_version_mismatch(
    http: requests.Session, server: LiveServer
) -> None:
    reply = post12(http, server, GET_STATUS)
    assert reply.status_code == 500
    assert fault_of(reply)[0] == "soap:VersionMismatch"


def test_root_that_is_not_an_envelope(http: requests.Session, server: LiveServer) -> None:
    reply = post11(http, server, get_status_body().encode(), action("GetStatus"))
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:Client" and "Envelope" in text


def test_two_body_children_is_client_fault(http: requests.Session, server: LiveServer) -> None:
    reply = post11(http, server, envelope(get_status_body() * 2), action("GetStatus"))
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:Client" and "exactly one element" in text


def test_dtd_is_refused(http: requests.Session, server: LiveServer) -> None:
    body = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + GET_STATUS.split(b"?>", 1)[1]
    reply = post11(http, server, body, action("GetStatus"))
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:Client" and "DTD" in text
    assert "root:" not in reply.text


def test_processing_instruction_is_refused(http: requests.Session, server: LiveServer) -> None:
    body = envelope(f'<?evil stuff?><GetStatus xmlns="{TNS}"/>')
    reply = post11(http, server, body, action("GetStatus"))
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Client" and "processing instruction" in text


def test_processing_instruction_deep_in_a_header_is_refused(
    http: requests.Session, server: LiveServer
) -> None:
    body = envelope(get_status_body(), '<X xmlns="urn:x"><Y><?evil stuff?></Y></X>')
    reply = post11(http, server, body, action("GetStatus"))
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Client" and "processing instruction" in text


@pytest.mark.parametrize("depth", [29, 30])
def test_depth_limit_holds_in_utf16(http: requests.Session, server: LiveServer, depth: int) -> None:
    """Envelope, Body and GetStatus are 3 levels: 29 more reach the limit of 32, 30 pass it."""
    inner = "<a>" * depth + "</a>" * depth
    text = envelope(f'<GetStatus xmlns="{TNS}">{inner}</GetStatus>').decode()
    body = text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    reply = post11(http, server, body, action("GetStatus"))
    code, message = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Client"
    if depth == 30:
        assert "deeper than 32" in message
    else:  # within the limit: refused only for holding content
        assert "content is not allowed" in message


# --- headers --------------------------------------------------------------------------
@pytest.mark.parametrize("soap12", [False, True])
def test_unknown_must_understand_header(
    http: requests.Session, server: LiveServer, soap12: bool
) -> None:
    ns = SOAP12_ENV if soap12 else SOAP11_ENV
    flag = "true" if soap12 else "1"
    header = f'<Security xmlns="urn:x" xmlns:s="{ns}" s:mustUnderstand="{flag}"/>'
    body = envelope(get_status_body(), header, soap12=soap12)
    reply = (
        post12(http, server, body) if soap12 else post11(http, server, body, action("GetStatus"))
    )
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:MustUnderstand" and "Security" in text


def test_unknown_header_without_must_understand_is_ignored(
    http: requests.Session, server: LiveServer
) -> None:
    body = envelope(get_status_body(), '<Trace xmlns="urn:x">1</Trace>' + header_xml(3))
    reply = post11(http, server, body, action("GetStatus"))
    assert reply.status_code == 200
    assert b"<Status>NotFound</Status>" in reply.content


def test_duplicate_activity_metadata(http: requests.Session, server: LiveServer) -> None:
    body = envelope(get_status_body(), header_xml(1) + header_xml(2))
    code, text = fault_of(post11(http, server, body, action("GetStatus")))
    assert code == "soap:Client" and "ActivityMetadata" in text and "more than once" in text


def test_malformed_guid_in_header_names_the_field(
    http: requests.Session, server: LiveServer
) -> None:
    body = envelope(get_status_body(), header_xml(1).replace("6f1c0a52", "zz"))
    reply = post11(http, server, body, action("GetStatus"))
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Client" and "WorkflowSpaceId" in text


# --- routing --------------------------------------------------------------------------
def test_missing_soap_action(http: requests.Session, server: LiveServer) -> None:
    code, text = fault_of(post11(http, server, GET_STATUS, None))
    assert code == "soap:Client" and "SOAPAction" in text and "missing" in text


@pytest.mark.parametrize("soap_action", ['"urn:nope"', '""', f'"{TNS}getstatus"'])
def test_unknown_soap_action(http: requests.Session, server: LiveServer, soap_action: str) -> None:
    reply = post11(http, server, GET_STATUS, soap_action)
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Client"
    assert "SOAPAction" in text and "did not recognize" in text


def test_soap_action_that_does_not_match_the_body(
    http: requests.Session, server: LiveServer
) -> None:
    code, text = fault_of(post11(http, server, GET_STATUS, action("FileBatch")))
    assert code == "soap:Client" and "FileBatch" in text and "GetStatus" in text


def test_soap12_unknown_body_element(http: requests.Session, server: LiveServer) -> None:
    reply = post12(http, server, envelope(f'<Nope xmlns="{TNS}"/>', soap12=True))
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Sender" and "'Nope'" in text


# --- body values ----------------------------------------------------------------------
def test_non_integer_timeout_names_the_field(http: requests.Session, server: LiveServer) -> None:
    reply = post11(http, server, envelope(file_batch_body(timeout="abc")), action("FileBatch"))
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Client"
    assert "TimeOut" in text and "'abc'" in text


def test_unexpected_element_names_it(http: requests.Session, server: LiveServer) -> None:
    body = envelope(file_batch_body(extra="<Priority>9</Priority>"))
    code, text = fault_of(post11(http, server, body, action("FileBatch")))
    assert code == "soap:Client" and "Priority" in text


def test_soap12_client_fault_is_sender(http: requests.Session, server: LiveServer) -> None:
    reply = post12(http, server, envelope(file_batch_body(put_model="Append"), soap12=True))
    code, text = fault_of(reply)
    assert reply.status_code == 500 and code == "soap:Sender"
    assert "PutModel" in text and "'Append'" in text


def test_get_status_with_content_is_refused(http: requests.Session, server: LiveServer) -> None:
    body = envelope(
        f'<GetStatus xmlns="{TNS}"><MasterWorkflowInstanceId>1</MasterWorkflowInstanceId></GetStatus>'
    )
    code, text = fault_of(post11(http, server, body, action("GetStatus")))
    assert code == "soap:Client" and "ActivityMetadata header" in text
