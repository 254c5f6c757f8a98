"""The attributes SOAP gives a header entry, on ActivityMetadata, in raw envelopes of both
SOAP versions, for GetStatus and FileBatch: accepted as ASMX accepts them (gSOAP, WCF and
others send them); a wrong value or a made-up SOAP attribute is a Client fault naming it; an
unknown header that must be understood still faults."""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from cora_ocr.namespaces import SOAP11_ENV, SOAP12_ENV, TNS
from tests.conftest import LiveServer
from tests.support.calls import fault_of
from tests.support.factories import (
    GUID,
    SOAP11_CT,
    SOAP12_CT,
    action,
    envelope,
    file_batch_body,
    get_status_body,
)

ACCEPTED = {
    "1.1": [
        's:mustUnderstand="1"',
        's:mustUnderstand="0"',
        's:mustUnderstand="true"',
        's:actor="http://schemas.xmlsoap.org/soap/actor/next"',
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"',
        'x:trace="abc" xmlns:x="urn:other"',
        'plain="unqualified"',
        's:mustUnderstand="1" s:actor="urn:me" x:a="1" xmlns:x="urn:other"',
    ],
    "1.2": [
        's:mustUnderstand="true"',
        's:mustUnderstand="false"',
        's:mustUnderstand="1"',
        's:mustUnderstand="0"',
        's:role="http://www.w3.org/2003/05/soap-envelope/role/next"',
        's:relay="true"',
        's:relay="0"',
        's:encodingStyle="http://www.w3.org/2003/05/soap-encoding"',
        'x:trace="abc" xmlns:x="urn:other"',
        's:mustUnderstand="true" s:role="urn:me" s:relay="false"',
    ],
}
REFUSED = {
    "1.1": [
        ('s:mustUnderstand="yes"', "soap:mustUnderstand='yes' is not one of 0, 1, true, false"),
        ('s:role="urn:me"', "soap:role is not an attribute of a SOAP 1.1 header"),
    ],
    "1.2": [
        ('s:relay="maybe"', "soap:relay='maybe' is not one of 0, 1, true, false"),
        ('s:actor="urn:me"', "soap:actor is not an attribute of a SOAP 1.2 header"),
    ],
}


def header(attributes: str, version: str, job_id: int = 0) -> str:
    ns = SOAP11_ENV if version == "1.1" else SOAP12_ENV
    return (
        f'<ActivityMetadata xmlns="{TNS}" xmlns:s="{ns}" {attributes}>'
        f"<WorkflowSpaceId>{GUID}</WorkflowSpaceId>"
        f"<MasterWorkflowInstanceId>{job_id}</MasterWorkflowInstanceId></ActivityMetadata>"
    )


def post(server: LiveServer, version: str, op: str, body: str, entry: str) -> requests.Response:
    data = envelope(body, entry, soap12=version == "1.2")
    if version == "1.1":
        headers = {"Content-Type": SOAP11_CT, "SOAPAction": action(op)}
    else:
        headers = {"Content-Type": SOAP12_CT}
    return requests.post(server.url, data=data, headers=headers)


def child_text(reply: requests.Response, name: str) -> str | None:
    return etree.fromstring(reply.content).findtext(f".//{{{TNS}}}{name}")


@pytest.mark.parametrize(
    ("version", "attributes"), [(v, a) for v, items in ACCEPTED.items() for a in items]
)
def test_soap_header_attributes_are_accepted(
    server: LiveServer, version: str, attributes: str
) -> None:
    reply = post(server, version, "FileBatch", file_batch_body(), header(attributes, version))
    assert reply.status_code == 200, reply.text
    job_id = int(child_text(reply, "MasterWorkflowInstanceId") or 0)
    status = post(
        server, version, "GetStatus", get_status_body(), header(attributes, version, job_id)
    )
    assert status.status_code == 200, status.text
    assert child_text(status, "Status") == "Queued"


@pytest.mark.parametrize(
    ("version", "attributes", "message"),
    [(v, a, m) for v, items in REFUSED.items() for a, m in items],
)
def test_a_wrong_soap_header_attribute_is_a_client_fault_naming_it(
    server: LiveServer, version: str, attributes: str, message: str
) -> None:
    for op, body in (("GetStatus", get_status_body()), ("FileBatch", file_batch_body())):
        reply = post(server, version, op, body, header(attributes, version))
        assert reply.status_code == 500
        code, text = fault_of(reply)
        assert code == ("soap:Client" if version == "1.1" else "soap:Sender")
        assert text == f"ActivityMetadata: {message}"


@pytest.mark.parametrize(
    ("version", "flag"), [("1.1", "1"), ("1.1", "true"), ("1.2", "true"), ("1.2", "1")]
)
def test_an_unknown_header_that_must_be_understood_still_faults(
    server: LiveServer, version: str, flag: str
) -> None:
    ns = SOAP11_ENV if version == "1.1" else SOAP12_ENV
    unknown = f'<Security xmlns="urn:x" xmlns:s="{ns}" s:mustUnderstand="{flag}"/>'
    entry = unknown + header('s:mustUnderstand="1"', version)
    reply = post(server, version, "GetStatus", get_status_body(), entry)
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == "soap:MustUnderstand" and "Security" in text
