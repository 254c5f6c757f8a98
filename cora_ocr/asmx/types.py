"""Wire types, named verbatim from wsdl/coraOcrIntegration_v1.0.0.wsdl."""

from __future__ import annotations

from typing import Any

from spyne import ComplexModel, Integer32, Long, Unicode, Uuid

from cora_ocr.namespaces import TNS


class _FieldsOnly:
    """A constructor that only sets the fields. Spyne's walks every field's attributes
    (defaults, factories, read-only properties, SQLAlchemy mappings) for every instance, about
    3 µs a field; these types have none of those, and two of them are built for every poll."""

    _type_info: Any
    _blank: dict[str, None]  # every field None, built once per class

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._blank = dict.fromkeys(cls._type_info)

    def __init__(self, **values: Any) -> None:
        blank = self._blank
        if not values.keys() <= blank.keys():
            unknown = ", ".join(sorted(values.keys() - blank.keys()))
            raise TypeError(f"{type(self).__name__} has no field {unknown}")
        self.__dict__.update(blank)
        self.__dict__.update(values)


# Names in the header are free text for Cora; bounded so that no field can carry megabytes.
Name = Unicode(max_len=1024)


class FileReference(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("Connection", Unicode),
        ("RelativeLocation", Unicode),
        ("FileName", Unicode),
    ]


class ActivityMetadata(_FieldsOnly, ComplexModel):
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


class OcrJobStatus(_FieldsOnly, ComplexModel):
    """GetStatus's answer: OcrStatus and OcrErrorCode values (cora_ocr.statuses) as text."""

    __namespace__ = TNS
    _type_info = [
        ("Status", Unicode(min_occurs=1, nillable=False)),
        ("ErrorCode", Unicode(min_occurs=1, nillable=False)),
        ("ExternalContext", Unicode),
    ]
