"""Acceptance 3: the bytes on the wire match docs/reference/contract.md's shapes, compared as trees."""

from __future__ import annotations

import functools

import requests

from cora_ocr.namespaces import TNS
from tests.conftest import LiveServer
from tests.support.factories import (
    SOAP11_CT,
    SOAP12_CT,
    action,
    envelope,
    file_batch_body,
    get_status_body,
    header_xml,
)
from tests.support.xmltree import assert_same_tree

CONTRACT_SOAP11 = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    '<soap:Body><GetStatusResponse xmlns="http://genpact.com/cora/orchestration/ocr/1.0.0/api/">'
    "<GetStatusResult><Status>Queued</Status><ErrorCode>NoError</ErrorCode>"
    "<ExternalContext>ctx</ExternalContext></GetStatusResult></GetStatusResponse></soap:Body></soap:Envelope>"
)
CONTRACT_SOAP12 = CONTRACT_SOAP11.replace(
    "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
)


def submit(http: requests.Session, server: LiveServer) -> int:
    reply = http.post(
        server.url,
        data=envelope(file_batch_body()),
        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("FileBatch")},
    )
    assert reply.status_code == 200, reply.text
    expected = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f'<soap:Body><FileBatchResponse xmlns="{TNS}"><FileBatchResult><MasterWorkflowInstanceId>'
        "{id}</MasterWorkflowInstanceId></FileBatchResult></FileBatchResponse></soap:Body></soap:Envelope>"
    )
    job_id = int(reply.text.split("<MasterWorkflowInstanceId>")[1].split("<")[0])
    assert_same_tree(reply.content, expected.format(id=job_id).encode())
    return job_id


def assert_asmx_bytes(reply: requests.Response, content_type: str) -> None:
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == content_type
    assert reply.content.startswith(b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope')
    assert not reply.content.startswith(b"\xef\xbb\xbf")  # no BOM
    assert b"\n" not in reply.content  # not indented


def test_soap11_get_status_bytes(http: requests.Session, server: LiveServer) -> None:
    job_id = submit(http, server)
    reply = http.post(
        server.url,
        data=envelope(get_status_body(), header_xml(job_id)),
        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")},
    )
    assert_asmx_bytes(reply, SOAP11_CT)
    assert_same_tree(reply.content, CONTRACT_SOAP11.encode())


def test_soap12_get_status_bytes(http: requests.Session, server: LiveServer) -> None:
    job_id = submit(http, server)
    reply = http.post(
        server.url,
        data=envelope(get_status_body(), header_xml(job_id), soap12=True),
        headers={"Content-Type": SOAP12_CT},
    )
    assert_asmx_bytes(reply, SOAP12_CT)
    assert_same_tree(reply.content, CONTRACT_SOAP12.encode())


def test_soap12_routes_on_action_parameter(http: requests.Session, server: LiveServer) -> None:
    reply = http.post(
        server.url,
        data=envelope(get_status_body(), header_xml(5), soap12=True),
        headers={"Content-Type": f'{SOAP12_CT}; action="{TNS}GetStatus"'},
    )
    assert reply.status_code == 200
    assert b"<Status>NotFound</Status>" in reply.content


def test_external_context_omitted_when_null(http: requests.Session, server: LiveServer) -> None:
    body = file_batch_body().replace("<ExternalContext>ctx</ExternalContext>", "")
    reply = http.post(
        server.url,
        data=envelope(body),
        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("FileBatch")},
    )
    job_id = int(reply.text.split("<MasterWorkflowInstanceId>")[1].split("<")[0])
    reply = http.post(
        server.url,
        data=envelope(get_status_body(), header_xml(job_id)),
        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")},
    )
    expected = CONTRACT_SOAP11.replace("<ExternalContext>ctx</ExternalContext>", "")
    assert_same_tree(reply.content, expected.encode())


TRICKY_CONTEXTS = [
    None,
    "",
    "plain",
    "a<b>&c\"d'e",
    "ünïcødé ✓",
    "line1\nline2",
    "]]>",
    "  spaced  ",
    "carriage\rreturn\r\n",
    "tab\there",
    "non-BMP \U0001f600 \U00010348",
]


def test_status_templates_render_what_lxml_renders() -> None:
    """The hot-path templates give byte for byte what the general renderers give."""
    from lxml import etree as et

    from cora_ocr.asmx.envelope import (
        SOAP11,
        SOAP12,
        StatusTemplate,
        render_response,
        render_status_response,
    )
    from cora_ocr.asmx.http import render_status_document
    from cora_ocr.statuses import OcrErrorCode, OcrStatus

    documents = StatusTemplate(render_status_document)
    for version in (SOAP11, SOAP12):
        template = StatusTemplate(functools.partial(render_status_response, version))
        for context in TRICKY_CONTEXTS:
            for status, code in (
                (OcrStatus.Failed, OcrErrorCode.TimedOut),
                (OcrStatus.Queued, OcrErrorCode.NoError),
            ):
                payload = et.Element(f"{{{TNS}}}GetStatusResponse")
                result = et.SubElement(payload, f"{{{TNS}}}GetStatusResult")
                et.SubElement(result, f"{{{TNS}}}Status").text = status.value
                et.SubElement(result, f"{{{TNS}}}ErrorCode").text = code.value
                if context is not None:
                    et.SubElement(result, f"{{{TNS}}}ExternalContext").text = context
                assert template.render(status.value, code.value, context) == render_response(
                    version, payload
                )
                assert documents.render(
                    status.value, code.value, context
                ) == render_status_document(status.value, code.value, context)
