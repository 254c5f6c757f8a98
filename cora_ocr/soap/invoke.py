"""Spyne glue: deserialize a pre-checked envelope, call the service, serialize the answer.

The front door (cora_ocr.web) has already parsed, hardened and routed the request; Spyne
does what it is good at: typed (de)serialization against the service's schema.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree
from spyne import Application, Fault, MethodContext
from spyne.protocol import ProtocolBase
from spyne.protocol.soap import Soap11, Soap12
from spyne.server import ServerBase

from cora_ocr.errors import ClientError, UnknownOperation
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Principal
from cora_ocr.namespaces import HEADER_TAG, TNS
from cora_ocr.soap.envelope import (
    SOAP11,
    SOAP12,
    SoapVersion,
    StatusTemplate,
    render_status_response,
)
from cora_ocr.soap.service import CoraOcrIntegration

_ID_TAG = f"{{{TNS}}}MasterWorkflowInstanceId"
_SCHEMA_NOISE = re.compile(r"^.*?SCHEMAV_[A-Z0-9_]+: ")


@dataclass(frozen=True)
class UserContext:
    jobs: JobService
    principal: Principal | None


def _fault_text(fault: Fault) -> str:
    text = fault.faultstring
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return _clean_schema_error(str(text))


def _clean_schema_error(text: str) -> str:
    """Make lxml's schema message readable: no error-code prefix, no namespace braces."""
    return _SCHEMA_NOISE.sub("", text).replace(f"{{{TNS}}}", "")


class _OneValidationAtATime:
    """lxml keeps a validator's error log on the validator, so two threads validating with
    one at once can read each other's log: a refused request got the other thread's empty
    error, a fault saying "None". Spyne shares one validator per application; every use of
    it goes through this lock (microseconds; uncontended with one thread per process)."""

    validation_schema: etree.XMLSchema
    validate_document: Any  # set per instance, by Spyne and again below

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validation_lock = threading.Lock()
        # Spyne sets its validator per instance (self.validate_document = its lxml one).
        spyne_validate = self.validate_document

        def validate_document(payload: etree._Element) -> None:
            with self.validation_lock:
                spyne_validate(payload)

        self.validate_document = validate_document

    def schema_error(self, element: etree._Element) -> str | None:
        """Why `element` breaks the service's schema, or None if it does not."""
        with self.validation_lock:
            if self.validation_schema.validate(element):
                return None
            return str(self.validation_schema.error_log.last_error)


class _Soap11(_OneValidationAtATime, Soap11):
    pass


class _Soap12(_OneValidationAtATime, Soap12):
    pass


class SoapInvoker:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self._transports: dict[SoapVersion, ServerBase] = {}
        for version, protocol in ((SOAP11, _Soap11), (SOAP12, _Soap12)):
            app = Application(
                [CoraOcrIntegration],
                tns=TNS,
                name="CoraOcrIntegration",
                in_protocol=protocol(validator="lxml"),
                out_protocol=protocol(),
            )
            self._transports[version] = ServerBase(app)
        self._templates = {
            version: StatusTemplate(functools.partial(render_status_response, version))
            for version in (SOAP11, SOAP12)
        }
        # Spyne's own validation schema (both apps build the same one), called directly.
        self._validator: _OneValidationAtATime = self._transports[SOAP11].app.in_protocol

    def get_status(
        self,
        version: SoapVersion,
        header: etree._Element | None,
        payload: etree._Element,
        principal: Principal | None,
    ) -> bytes:
        """GetStatus without Spyne's object round trip: the header is validated against the
        same schema, the answer filled into a template. Callers poll this for every job."""
        if len(payload) or (payload.text or "").strip():
            raise ClientError(
                "GetStatus: content is not allowed; the job id travels in the "
                "ActivityMetadata header"
            )
        entry = self._validated_header(header)
        text = None if entry is None else entry.findtext(_ID_TAG)
        job_id = int(text) if text and text.strip() else None
        view = self.jobs.status(job_id, principal)
        return self._templates[version].render(
            view.status.value, view.error_code.value, view.external_context
        )

    def _validated_header(self, header: etree._Element | None) -> etree._Element | None:
        """The ActivityMetadata header entry, checked against the service's schema (Spyne
        validates only the body). The front door has already refused duplicates."""
        entry = None if header is None else header.find(HEADER_TAG)
        if entry is not None:
            message = self._validator.schema_error(entry)
            if message is not None:
                raise ClientError(_clean_schema_error(message))
        return entry

    def invoke(
        self,
        version: SoapVersion,
        header: etree._Element | None,
        payload: etree._Element,
        principal: Principal | None = None,
    ) -> etree._Element:
        """The response payload element (FileBatchResponse) for one request payload; GetStatus
        takes the get_status fast path and never comes here."""
        transport = self._transports[version]
        app: Any = transport.app
        ctx = MethodContext(transport, MethodContext.SERVER)
        ctx.udc = UserContext(self.jobs, principal)
        ctx.in_header_doc = header
        ctx.in_body_doc = payload
        ctx.method_request_string = payload.tag
        handles = app.in_protocol.get_call_handles(ctx)
        if not handles:
            raise UnknownOperation(
                f"the request element {etree.QName(payload).localname!r}"
                " is not an operation of this service"
            )
        ctx.descriptor = handles[0]
        self._validated_header(header)
        try:
            app.in_protocol.validate_body(ctx, ProtocolBase.REQUEST)
            app.in_protocol.deserialize(ctx, ProtocolBase.REQUEST)
        except Fault as fault:
            raise ClientError(_fault_text(fault)) from None
        except (ValueError, TypeError) as exc:
            raise ClientError(f"the request could not be read: {exc}") from None
        ctx.out_object = [app.call_wrapper(ctx)]
        app.out_protocol.serialize(ctx, ProtocolBase.RESPONSE)
        body = ctx.out_document[0]
        return body[0]
