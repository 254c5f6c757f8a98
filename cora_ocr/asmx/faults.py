"""SOAP faults by the one fault table (web/faults.py): the status and fault code it gives an
error, in the envelope of the caller's SOAP version."""

from __future__ import annotations

from cora_ocr.asmx.envelope import SoapVersion, render_fault
from cora_ocr.web.faults import headers_of, message_for, rule_for
from cora_ocr.web.response import Response


def soap_error(version: SoapVersion, exc: BaseException) -> Response:
    rule = rule_for(exc)
    text = message_for(exc, rule)
    body = render_fault(version, rule.code, text)
    return Response(rule.http_status, version.content_type, body, headers_of(exc))
