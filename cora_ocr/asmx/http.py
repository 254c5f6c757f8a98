"""ASMX's HTTP GET and POST bindings as a Spyne protocol: the arguments come as query or form
fields (the header's MasterWorkflowInstanceId among them: these bindings have no header), the
answer is the bare result document (docs/reference/contract.md). Errors are plain text, the
front door's."""

from __future__ import annotations

from typing import Any

from lxml import etree
from spyne.protocol import ProtocolBase

from cora_ocr.asmx.envelope import XML_DECLARATION, StatusTemplate
from cora_ocr.asmx.types import ActivityMetadata
from cora_ocr.errors import InvalidField
from cora_ocr.namespaces import TNS, XSD, XSI

ID_FIELD = "MasterWorkflowInstanceId"
CONTENT_TYPE = "text/xml; charset=utf-8"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def parse_job_id(params: dict[str, list[str]]) -> int | None:
    """The job id parameter; absent or empty means no job (answered NotFound)."""
    values = params.get(ID_FIELD) or [""]
    raw = values[0].strip()
    if not raw:
        return None
    if len(values) > 1:
        raise InvalidField(ID_FIELD, "given more than once")
    try:
        job_id = int(raw, 10)
    except ValueError:
        raise InvalidField(ID_FIELD, f"{raw[:40]!r} is not an integer") from None
    if not _LONG_MIN <= job_id <= _LONG_MAX:
        raise InvalidField(ID_FIELD, f"{raw[:40]!r} does not fit in a 64-bit integer")
    return job_id


def status_document(status: str, error_code: str, context: str | None) -> etree._Element:
    root = etree.Element(f"{{{TNS}}}OcrJobStatus", nsmap={"xsd": XSD, "xsi": XSI, None: TNS})
    etree.SubElement(root, f"{{{TNS}}}Status").text = status
    etree.SubElement(root, f"{{{TNS}}}ErrorCode").text = error_code
    if context is not None:
        etree.SubElement(root, f"{{{TNS}}}ExternalContext").text = context
    return root


def _to_bytes(document: etree._Element) -> bytes:
    return XML_DECLARATION + b"\n" + etree.tostring(document, encoding="utf-8", pretty_print=True)


def render_status_document(status: str, error_code: str, context: str | None) -> bytes:
    return _to_bytes(status_document(status, error_code, context))


class HttpGetPost(ProtocolBase):
    """In: ctx.in_document is the request's fields (name -> values, as parse_qs gives them)
    and ctx.method_request_string the operation named by the URL. Out: the result document
    (CONTENT_TYPE)."""

    def __init__(self) -> None:
        super().__init__()
        self.status_template = StatusTemplate(render_status_document)

    def deserialize(self, ctx: Any, message: str) -> None:
        self.event_manager.fire_event("before_deserialize", ctx)
        params: dict[str, list[str]] = ctx.in_document
        ctx.in_header = ActivityMetadata(MasterWorkflowInstanceId=parse_job_id(params))
        ctx.in_object = []  # GetStatus, the one operation on these bindings, has no arguments
        self.event_manager.fire_event("after_deserialize", ctx)

    def serialize(self, ctx: Any, message: str) -> None:
        self.event_manager.fire_event("before_serialize", ctx)
        result = ctx.out_object[0]
        ctx.out_document = status_document(result.Status, result.ErrorCode, result.ExternalContext)
        self.event_manager.fire_event("after_serialize", ctx)

    def create_out_string(self, ctx: Any, charset: str | None = None) -> None:
        ctx.out_string = [_to_bytes(ctx.out_document)]
