"""The service: each method reads its input, calls a use case, returns. Every binding (SOAP
1.1, SOAP 1.2, HTTP GET and POST) dispatches into this one class (cora_ocr.asmx.bindings)."""

from __future__ import annotations

import uuid
from typing import Any

from spyne import Integer32, ServiceBase, Unicode, rpc

from cora_ocr.asmx.types import ActivityMetadata, FileBatchResult, FileReference, OcrJobStatus
from cora_ocr.jobs import FileBatchRequest, FileRef, JobService


def _file_ref(value: FileReference | None) -> FileRef | None:
    if value is None:
        return None
    return FileRef(value.Connection, value.RelativeLocation, value.FileName)


def _activity(header: ActivityMetadata | None) -> dict[str, Any] | None:
    if header is None:
        return None
    return {
        name: (str(value) if isinstance(value, uuid.UUID) else value)
        for name, value in header.as_dict().items()
    }


class CoraOcrIntegration(ServiceBase):
    __in_header__ = ActivityMetadata

    @rpc(
        Integer32(min_occurs=1, nillable=False),
        Unicode,
        FileReference,
        Unicode,
        FileReference,
        Unicode,
        _returns=FileBatchResult,
        _out_variable_name="FileBatchResult",
    )
    def FileBatch(
        ctx: Any,
        TimeOut: int | None,
        ExternalContext: str | None,
        InputFile: FileReference | None,
        OCRProfile: str | None,
        OutPutFile: FileReference | None,
        PutModel: str | None,
    ) -> FileBatchResult:
        jobs: JobService = ctx.udc.jobs
        job_id = jobs.submit(
            FileBatchRequest(
                timeout=TimeOut,
                external_context=ExternalContext,
                input_file=_file_ref(InputFile),
                ocr_profile=OCRProfile,
                output_file=_file_ref(OutPutFile),
                put_model=PutModel,
                activity=_activity(ctx.in_header),
            ),
            ctx.udc.principal,
        )
        return FileBatchResult(MasterWorkflowInstanceId=job_id)

    @rpc(_returns=OcrJobStatus, _out_variable_name="GetStatusResult")
    def GetStatus(ctx: Any) -> OcrJobStatus:
        """The job named by the header's MasterWorkflowInstanceId (no header, or no id in it:
        NotFound). Its answer is written from a template (cora_ocr.asmx.bindings)."""
        header: ActivityMetadata | None = ctx.in_header
        job_id = None if header is None else header.MasterWorkflowInstanceId
        jobs: JobService = ctx.udc.jobs
        view = jobs.status(job_id, ctx.udc.principal)
        return OcrJobStatus(
            Status=view.status.value,
            ErrorCode=view.error_code.value,
            ExternalContext=view.external_context,
        )
