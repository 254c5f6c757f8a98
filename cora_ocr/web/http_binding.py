"""GetStatus over HTTP GET and POST: a bare OcrJobStatus document (CONTRACT.md)."""

from __future__ import annotations

from lxml import etree

from cora_ocr.errors import InvalidField
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Principal
from cora_ocr.namespaces import TNS, XSD, XSI
from cora_ocr.soap.envelope import StatusTemplate
from cora_ocr.web.response import TEXT_XML, Response

ID_FIELD = "MasterWorkflowInstanceId"
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


def render_status_document(status: str, error_code: str, context: str | None) -> bytes:
    root = etree.Element(f"{{{TNS}}}OcrJobStatus", nsmap={"xsd": XSD, "xsi": XSI, None: TNS})
    etree.SubElement(root, f"{{{TNS}}}Status").text = status
    etree.SubElement(root, f"{{{TNS}}}ErrorCode").text = error_code
    if context is not None:
        etree.SubElement(root, f"{{{TNS}}}ExternalContext").text = context
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(
        root, encoding="utf-8", pretty_print=True
    )


def get_status(
    jobs: JobService,
    documents: StatusTemplate,
    params: dict[str, list[str]],
    principal: Principal | None,
) -> Response:
    view = jobs.status(parse_job_id(params), principal)
    body = documents.render(view.status.value, view.error_code.value, view.external_context)
    return Response(200, TEXT_XML, body)
