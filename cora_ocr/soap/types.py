"""Wire types, named verbatim from wsdl/coraOcrIntegration_v1.0.0.wsdl."""

from __future__ import annotations

from spyne import ComplexModel, Integer32, Long, Unicode, Uuid

from cora_ocr.namespaces import TNS

# Names in the header are free text for Cora; bounded so that no field can carry megabytes.
Name = Unicode(max_len=1024)


class FileReference(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("Connection", Unicode),
        ("RelativeLocation", Unicode),
        ("FileName", Unicode),
    ]


class ActivityMetadata(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("WorkflowSpaceId", Uuid),
        ("WorkflowSpaceName", Name),
        ("WorkflowId", Uuid),
        ("WorkflowName", Name),
        ("WorkflowInstanceId", Long),
        ("ActivityId", Uuid),
        ("ActivityName", Name),
        ("ActivityInstanceId", Long),
        ("CallerId", Integer32),
        ("MasterWorkflowInstanceId", Long),
    ]


class FileBatchResult(ComplexModel):
    __namespace__ = TNS
    _type_info = [("MasterWorkflowInstanceId", Long(min_occurs=1, nillable=False))]


class OcrJobStatus(ComplexModel):
    """GetStatus's answer: OcrStatus and OcrErrorCode values (cora_ocr.statuses) as text."""

    __namespace__ = TNS
    _type_info = [
        ("Status", Unicode(min_occurs=1, nillable=False)),
        ("ErrorCode", Unicode(min_occurs=1, nillable=False)),
        ("ExternalContext", Unicode),
    ]
