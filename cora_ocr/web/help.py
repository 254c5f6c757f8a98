"""The HTML help pages ASMX serves at GET <path> and GET <path>?op=NAME."""

from __future__ import annotations

from html import escape

from cora_ocr.namespaces import OPERATIONS, TNS

_SAMPLE_BODIES = {
    "FileBatch": (
        '<FileBatch xmlns="{tns}">\n      <TimeOut>int</TimeOut>\n'
        "      <ExternalContext>string</ExternalContext>\n"
        "      <InputFile>\n        <Connection>string</Connection>\n"
        "        <RelativeLocation>string</RelativeLocation>\n"
        "        <FileName>string</FileName>\n      </InputFile>\n"
        "      <OCRProfile>string</OCRProfile>\n"
        "      <OutPutFile>\n        <Connection>string</Connection>\n"
        "        <RelativeLocation>string</RelativeLocation>\n"
        "        <FileName>string</FileName>\n      </OutPutFile>\n"
        "      <PutModel>string</PutModel>\n    </FileBatch>"
    ),
    "GetStatus": '<GetStatus xmlns="{tns}" />',
}


def _page(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"</head><body><h1>{escape(title)}</h1>{body}</body></html>"
    ).encode()


def service_page(path: str) -> bytes:
    items = "".join(f'<li><a href="{escape(path)}?op={op}">{op}</a></li>' for op in OPERATIONS)
    return _page(
        "CoraOcrIntegration",
        f"<p>The following operations are supported. For a formal definition, see the "
        f'<a href="{escape(path)}?wsdl">Service Description</a>.</p><ul>{items}</ul>',
    )


def operation_page(path: str, op: str) -> bytes | None:
    sample = _SAMPLE_BODIES.get(op)
    if sample is None:
        return None
    body = sample.format(tns=TNS)
    soap11 = (
        f"POST {path} HTTP/1.1\nContent-Type: text/xml; charset=utf-8\n"
        f'SOAPAction: "{TNS}{op}"\n\n'
        '<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope '
        'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">\n  <soap:Header>\n'
        f'    <ActivityMetadata xmlns="{TNS}">...</ActivityMetadata>\n  </soap:Header>\n'
        f"  <soap:Body>\n    {body}\n  </soap:Body>\n</soap:Envelope>"
    )
    soap12 = (
        soap11.replace("text/xml", "application/soap+xml")
        .replace(f'SOAPAction: "{TNS}{op}"\n', "")
        .replace(
            "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
        )
    )
    sections = [("SOAP 1.1", soap11), ("SOAP 1.2", soap12)]
    if op == "GetStatus":
        sections.append(
            ("HTTP GET", f"GET {path}/GetStatus?MasterWorkflowInstanceId=string HTTP/1.1")
        )
        sections.append(
            (
                "HTTP POST",
                f"POST {path}/GetStatus HTTP/1.1\n"
                "Content-Type: application/x-www-form-urlencoded\n\n"
                "MasterWorkflowInstanceId=string",
            )
        )
    html = "".join(f"<h2>{name}</h2><pre>{escape(text)}</pre>" for name, text in sections)
    return _page(f"CoraOcrIntegration: {op}", html)
