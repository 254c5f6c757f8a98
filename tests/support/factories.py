"""Test defaults live here, so that each test states only what matters to it."""

from __future__ import annotations

from typing import Any

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.namespaces import SOAP11_ENV, SOAP12_ENV, TNS

GUID = "6f1c0a52-4a43-4f3e-9a43-1b2c3d4e5f60"
SOAP11_CT = "text/xml; charset=utf-8"
SOAP12_CT = "application/soap+xml; charset=utf-8"


def action(op: str) -> str:
    return f'"{TNS}{op}"'


def activity_header(job_id: int = 0, **overrides: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "WorkflowSpaceId": GUID,
        "WorkflowSpaceName": "Claims",
        "WorkflowId": GUID,
        "WorkflowName": "Intake",
        "WorkflowInstanceId": 7001,
        "ActivityId": GUID,
        "ActivityName": "OCR",
        "ActivityInstanceId": 7002,
        "CallerId": 42,
        "MasterWorkflowInstanceId": job_id,
    }
    header.update(overrides)
    return header


def wire_status(client: Any, job_id: int) -> tuple[str, str]:
    """(Status, ErrorCode) of a job, asked through GetStatus as a Cora workflow asks."""
    answer = client.service.GetStatus(_soapheaders={"ActivityMetadata": activity_header(job_id)})
    return answer.Status, answer.ErrorCode


def file_ref(
    name: str, location: str = "batch", connection: str = DEFAULT_CONNECTION
) -> dict[str, Any]:
    return {"Connection": connection, "RelativeLocation": location, "FileName": name}


def file_batch_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TimeOut": 300,
        "ExternalContext": "ctx-42",
        "InputFile": file_ref("scan.png", "in"),
        "OCRProfile": "Default",
        "OutPutFile": file_ref("scan.xml", "out"),
        "PutModel": "",
    }
    args.update(overrides)
    return args


def header_xml(job_id: int | None) -> str:
    if job_id is None:
        return ""
    return (
        f'<ActivityMetadata xmlns="{TNS}"><WorkflowSpaceId>{GUID}</WorkflowSpaceId>'
        f"<MasterWorkflowInstanceId>{job_id}</MasterWorkflowInstanceId></ActivityMetadata>"
    )


def envelope(body: str, header: str = "", soap12: bool = False) -> bytes:
    ns = SOAP12_ENV if soap12 else SOAP11_ENV
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{ns}">'
        f"{head}<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def get_status_body() -> str:
    return f'<GetStatus xmlns="{TNS}" />'


def file_batch_body(timeout: str = "300", extra: str = "", put_model: str = "") -> str:
    ref = (
        "<{tag}><Connection>" + DEFAULT_CONNECTION + "</Connection><RelativeLocation>in"
        "</RelativeLocation><FileName>{name}</FileName></{tag}>"
    )
    return (
        f'<FileBatch xmlns="{TNS}"><TimeOut>{timeout}</TimeOut>'
        f"<ExternalContext>ctx</ExternalContext>{ref.format(tag='InputFile', name='a.png')}"
        f"<OCRProfile>Default</OCRProfile>{ref.format(tag='OutPutFile', name='a.xml')}"
        f"<PutModel>{put_model}</PutModel>{extra}</FileBatch>"
    )


class ManualClock:
    """A clock the test moves: the worker's deadlines and polls follow it, nothing sleeps."""

    def __init__(self) -> None:
        import datetime as dt

        self._now = dt.datetime.now(dt.UTC)

    def now(self) -> Any:
        return self._now

    def set(self, moment: Any) -> None:
        """Put the clock at `moment` (a time-zone aware datetime)."""
        self._now = moment

    def advance(self, seconds: float) -> None:
        import datetime as dt

        self._now += dt.timedelta(seconds=seconds)
