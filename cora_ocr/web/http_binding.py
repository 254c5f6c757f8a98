"""GetStatus over HTTP GET and POST: a bare OcrJobStatus document (CONTRACT.md)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

from cora_ocr.errors import InvalidField
from cora_ocr.jobs import JobService, StatusView
from cora_ocr.licensing import Principal
from cora_ocr.namespaces import TNS, XSD, XSI
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


def render_status_document(view: StatusView) -> bytes:
    root = etree.Element(f"{{{TNS}}}OcrJobStatus", nsmap={"xsd": XSD, "xsi": XSI, None: TNS})
    etree.SubElement(root, f"{{{TNS}}}Status").text = view.status.value
    etree.SubElement(root, f"{{{TNS}}}ErrorCode").text = view.error_code.value
    if view.external_context is not None:
        etree.SubElement(root, f"{{{TNS}}}ExternalContext").text = view.external_context
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(
        root, encoding="utf-8", pretty_print=True
    )


class StatusDocuments:
    """The bare OcrJobStatus answer as a template built once from render_status_document:
    a request only fills in the three values."""

    def __init__(self) -> None:
        marked = StatusView(_Marker("@S@"), _Marker("@E@"), "@C@")  # type: ignore[arg-type]
        text = render_status_document(marked).decode("utf-8")
        self._head, rest = text.split("@S@")
        self._middle, rest = rest.split("@E@")
        self._before_context, self._tail = rest.split("@C@")
        line_end = self._before_context.index("\n")
        self._close_without_context = (
            self._before_context[: line_end + 1] + self._tail.split("\n", 1)[1]
        )

    def render(self, view: StatusView) -> bytes:
        start = self._head + view.status.value + self._middle + view.error_code.value
        if view.external_context is None:
            return (start + self._close_without_context).encode("utf-8")
        context = escape(view.external_context)
        return (start + self._before_context + context + self._tail).encode("utf-8")


class _Marker(str):
    @property
    def value(self) -> str:
        return str(self)


def get_status(
    jobs: JobService,
    documents: StatusDocuments,
    params: dict[str, list[str]],
    principal: Principal | None,
) -> Response:
    view = jobs.status(parse_job_id(params), principal)
    return Response(200, TEXT_XML, documents.render(view))
