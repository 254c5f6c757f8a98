"""The pages ASMX serves at GET <path> (the operation list), GET <path>?op=NAME (an operation's
samples and test form) and GET <path>?disco (a DISCO document), drawn as ASMX draws them.

The samples are made from the served WSDL's schema, so every header field and every element
appears with its type as the placeholder (`string`, `int`, `long`, `guid`; an enumeration's
values joined by "or"), for each binding that offers the operation: SOAP 1.1 and SOAP 1.2
(request and response, the ActivityMetadata header included), and for GetStatus HTTP GET and
HTTP POST (MasterWorkflowInstanceId: cora_ocr's documented extension of the ASMX WSDL). As
ASMX does, the "Invoke" test form (HTTP POST) is shown to local callers only, and only for an
operation whose parameters are primitive.
"""

from __future__ import annotations

import functools
from html import escape

from lxml import etree

from cora_ocr.asmx.wsdl import WSDL_FILE
from cora_ocr.namespaces import OPERATIONS, TNS

XS = "http://www.w3.org/2001/XMLSchema"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
HTTP_OPERATIONS = ("GetStatus",)
DESCRIPTIONS = {
    "FileBatch": "Queues a document for OCR; answers the job's MasterWorkflowInstanceId.",
    "GetStatus": "The status, error code and external context of the job named by"
    " MasterWorkflowInstanceId in the ActivityMetadata header.",
}

_STYLE = """
body { color: #000000; background-color: #ffffff; margin-top: 0; margin-left: 0;
       font-family: Verdana, Tahoma, sans-serif; }
#content { margin-left: 30px; font-size: .70em; padding-bottom: 2em; }
a:link, a:visited { color: #336699; font-weight: bold; text-decoration: underline; }
a:hover { color: #cc3300; }
p { color: #000000; margin-top: 0; margin-bottom: 12px; }
pre { background-color: #e5e5cc; padding: 5px; font-family: "Courier New", monospace;
      font-size: x-small; margin-top: -5px; border: 1px #f0f0e0 solid; white-space: pre-wrap; }
td { color: #000000; font-size: .7em; }
h2 { font-size: 1.5em; font-weight: bold; margin-top: 25px; margin-bottom: 10px;
     border-top: 1px solid #003366; margin-left: -15px; color: #003366; }
h3 { font-size: 1.1em; color: #000000; margin-left: -15px; margin-top: 10px; margin-bottom: 10px; }
ul { margin-top: 10px; margin-left: 20px; }
li { margin-top: 10px; color: #000000; }
.heading1 { color: #ffffff; font-family: Tahoma, sans-serif; font-size: 26px;
            font-weight: normal; background-color: #003366; margin-top: 0; margin-left: -30px;
            padding-top: 10px; padding-bottom: 3px; padding-left: 15px; width: 105%; }
.button { background-color: #dcdcdc; font-family: Verdana, sans-serif; font-size: 1em;
          border-top: #cccccc 1px solid; border-bottom: #666666 1px solid;
          border-left: #cccccc 1px solid; border-right: #666666 1px solid; }
.frmText { font-family: Verdana, sans-serif; font-size: .7em; }
.frmInput { font-family: Verdana, sans-serif; font-size: 1em; }
.intro { margin-left: -15px; }
.value { color: #0000cc; }
"""


@functools.cache
def _schema() -> dict[str, etree._Element]:
    """The WSDL schema's elements and named types, by name."""
    root = etree.parse(str(WSDL_FILE)).getroot()
    named: dict[str, etree._Element] = {}
    for schema in root.iter(f"{{{XS}}}schema"):
        for child in schema:
            name = child.get("name")
            if name:
                named[f"{etree.QName(child).localname}:{name}"] = child
    return named


def _placeholder(type_name: str) -> str | None:
    """The sample text of a simple type, None for a complex one."""
    local = type_name.split(":", 1)[-1]
    simple = _schema().get(f"simpleType:{local}")
    if simple is not None:
        values = [e.get("value", "") for e in simple.iter(f"{{{XS}}}enumeration")]
        return " or ".join(values) if values else local
    if _schema().get(f"complexType:{local}") is not None:
        return None
    return local


def _children(complex_type: etree._Element, indent: str) -> str:
    lines = []
    for element in complex_type.iter(f"{{{XS}}}element"):
        if element.getparent() is not None and element.getparent().tag != f"{{{XS}}}sequence":
            continue
        if element.getparent().getparent() is not complex_type:
            continue
        name, type_name = element.get("name", ""), element.get("type", "")
        text = _placeholder(type_name)
        if text is not None:
            lines.append(f"{indent}<{name}>{text}</{name}>")
            continue
        inner = _schema()[f"complexType:{type_name.split(':', 1)[-1]}"]
        lines.append(f"{indent}<{name}>\n{_children(inner, indent + '  ')}\n{indent}</{name}>")
    return "\n".join(lines)


def element_sample(name: str, indent: str, namespace: bool = True) -> str:
    """A schema element, its children with their types as placeholders."""
    element = _schema()[f"element:{name}"]
    xmlns = f' xmlns="{TNS}"' if namespace else ""
    type_name = element.get("type")
    complex_type = (
        _schema()[f"complexType:{type_name.split(':', 1)[-1]}"]
        if type_name
        else element.find(f"{{{XS}}}complexType")
    )
    inner = _children(complex_type, indent + "  ") if complex_type is not None else ""
    if not inner:
        return f"{indent}<{name}{xmlns} />"
    return f"{indent}<{name}{xmlns}>\n{inner}\n{indent}</{name}>"


def _envelope(prefix_ns: str, header: bool, body: str) -> str:
    head = (
        f"  <soap:Header>\n{element_sample('ActivityMetadata', '    ')}\n  </soap:Header>\n"
        if header
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="{prefix_ns}">\n'
        f"{head}  <soap:Body>\n{body}\n  </soap:Body>\n</soap:Envelope>"
    )


def samples(path: str, host: str, op: str) -> list[tuple[str, str, str, str]]:
    """(binding, introduction, request, response) for each binding offering `op`."""
    request_body = element_sample(op, "    ")
    response_body = element_sample(f"{op}Response", "    ")
    intro = (
        "The following is a sample {} request and response. The <span class=value>"
        "placeholders</span> shown need to be replaced with actual values."
    )
    found = []
    for label, ns, content_type, action in (
        ("SOAP 1.1", SOAP11_NS, "text/xml; charset=utf-8", True),
        ("SOAP 1.2", SOAP12_NS, "application/soap+xml; charset=utf-8", False),
    ):
        soap_action = f'SOAPAction: "{TNS}{op}"\n' if action else ""
        request = (
            f"POST {path} HTTP/1.1\nHost: {host}\nContent-Type: {content_type}\n"
            f"Content-Length: length\n{soap_action}\n" + _envelope(ns, True, request_body)
        )
        response = (
            f"HTTP/1.1 200 OK\nContent-Type: {content_type}\nContent-Length: length\n\n"
            + _envelope(ns, False, response_body)
        )
        found.append((label, intro.format(label), request, response))
    if op in HTTP_OPERATIONS:
        status = element_sample("OcrJobStatus", "", namespace=True)
        status_doc = '<?xml version="1.0" encoding="utf-8"?>\n' + status
        response = (
            "HTTP/1.1 200 OK\nContent-Type: text/xml; charset=utf-8\nContent-Length: length\n\n"
            + status_doc
        )
        found.append(
            (
                "HTTP GET",
                intro.format("HTTP GET"),
                f"GET {path}/{op}?MasterWorkflowInstanceId=long HTTP/1.1\nHost: {host}",
                response,
            )
        )
        found.append(
            (
                "HTTP POST",
                intro.format("HTTP POST"),
                f"POST {path}/{op} HTTP/1.1\nHost: {host}\n"
                "Content-Type: application/x-www-form-urlencoded\nContent-Length: length\n\n"
                "MasterWorkflowInstanceId=long",
                response,
            )
        )
    return found


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><div id="content"><p class="heading1">CoraOcrIntegration</p><br>{body}'
        "</div></body></html>"
    ).encode()


def _split(url: str) -> tuple[str, str]:
    """(host, path) of an absolute URL."""
    rest = url.split("://", 1)[-1]
    host, _, path = rest.partition("/")
    return host, "/" + path


def service_page(url: str) -> bytes:
    items = "".join(
        f'<li><a href="{escape(url)}?op={op}">{op}</a><br>{escape(DESCRIPTIONS[op])}</li>'
        for op in OPERATIONS
    )
    return _page(
        "CoraOcrIntegration Web Service",
        '<span><p class="intro">The following operations are supported. For a formal'
        f' definition, please review the <a href="{escape(url)}?wsdl">Service Description</a>.'
        f"</p><ul>{items}</ul></span>",
    )


def operation_page(url: str, op: str, local: bool) -> bytes | None:
    if op not in OPERATIONS:
        return None
    host, path = _split(url)
    parts = [
        f'<span><p class="intro">Click <a href="{escape(url)}">here</a> for a complete list of'
        " operations.</p>",
        f"<h2>{escape(op)}</h2><p class=intro>{escape(DESCRIPTIONS[op])}</p>",
        "<h3>Test</h3>",
    ]
    if op not in HTTP_OPERATIONS:
        parts.append(
            "The test form is only available for methods with primitive types as parameters."
        )
    elif not local:
        parts.append("The test form is only available for requests from the local machine.")
    else:
        parts.append(
            "To test the operation using the HTTP POST protocol, click the 'Invoke' button."
            f'<form target="_blank" action="{escape(url)}/{op}" method="POST">'
            '<table cellspacing="0" cellpadding="4" frame="box" bordercolor="#dcdcdc"'
            ' rules="none" style="border-collapse: collapse;">'
            '<tr><td class="frmHeader" style="border-right: 2px solid white;">Parameter</td>'
            '<td class="frmHeader">Value</td></tr>'
            '<tr><td class="frmText" style="color: #000000; font-weight: normal;">'
            '<label for="MasterWorkflowInstanceId">MasterWorkflowInstanceId:</label></td>'
            '<td><input class="frmInput" type="text" size="50" id="MasterWorkflowInstanceId"'
            ' name="MasterWorkflowInstanceId"></td></tr>'
            '<tr><td></td><td align="right"><input type="submit" value="Invoke" class="button">'
            "</td></tr></table></form>"
        )
    for label, intro, request, response in samples(path, host, op):
        parts.append(
            f"<span><h3>{label}</h3><p>{intro}</p><pre>{escape(request)}</pre>"
            f"<pre>{escape(response)}</pre></span>"
        )
    parts.append("</span>")
    return _page(f"CoraOcrIntegration Web Service: {op}", "".join(parts))


def disco(url: str) -> bytes:
    """The DISCO document ASMX answers at ?disco: where the WSDL and both SOAP ports are."""
    where = escape(url, quote=True)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<discovery xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns="http://schemas.xmlsoap.org/disco/">\n'
        f'  <contractRef ref="{where}?wsdl" docRef="{where}"'
        ' xmlns="http://schemas.xmlsoap.org/disco/scl/" />\n'
        f'  <soap address="{where}" xmlns:q1="{TNS}" binding="q1:CoraOcrIntegrationSoap"'
        ' xmlns="http://schemas.xmlsoap.org/disco/soap/" />\n'
        f'  <soap address="{where}" xmlns:q2="{TNS}" binding="q2:CoraOcrIntegrationSoap12"'
        ' xmlns="http://schemas.xmlsoap.org/disco/soap/" />\n'
        "</discovery>"
    ).encode()
