"""The Spyne application and its four bindings: SOAP 1.1, SOAP 1.2, HTTP GET and HTTP POST.

One service class (cora_ocr.asmx.service) declares both operations; every binding is a Spyne
protocol on one Spyne application, so every request goes through Spyne's deserialization,
its `process_request` and its events. The front door (cora_ocr.web) has already parsed,
hardened, authenticated and routed the request; what is ours here:

- errors leave Spyne as our own exceptions (the front door renders ASMX's faults);
- GetStatus, polled for every job, is answered from a template: a `method_return_object`
  listener fills the answer into `ctx.out_string`, and Spyne skips its serializer;
- the header entry is checked against the service's schema (Spyne validates only the body),
  or, when it is plainly valid, by `plainly_valid_header` without lxml's validator.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from lxml import etree
from spyne import Application, EventManager, Fault, MethodContext
from spyne.context import EventContext, TransportContext
from spyne.protocol import ProtocolBase
from spyne.protocol.soap import Soap11, Soap12
from spyne.server import ServerBase

from cora_ocr.asmx.envelope import (
    SOAP11,
    SOAP12,
    SoapVersion,
    StatusTemplate,
    render_response,
    render_status_response,
)
from cora_ocr.asmx.headers import HEADER_FIELDS, plainly_valid_header
from cora_ocr.asmx.http import HttpGetPost
from cora_ocr.asmx.service import CoraOcrIntegration
from cora_ocr.asmx.types import ActivityMetadata
from cora_ocr.errors import ClientError, UnknownOperation
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Principal
from cora_ocr.namespaces import HEADER_TAG, TNS, XSI

_SCHEMA_NOISE = re.compile(r"^.*?SCHEMAV_[A-Z0-9_]+: ")
_XSI_NIL = f"{{{XSI}}}nil"


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


class _AsmxSoap:
    """What our SOAP protocols add to Spyne's: one validation at a time, the header entry
    validated with the body, a GetStatus body that holds nothing, ASMX's envelope out."""

    version: SoapVersion
    validation_schema: etree.XMLSchema
    validate_document: Any  # set per instance, by Spyne and again below

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status_template = StatusTemplate(
            lambda *values: render_status_response(self.version, *values)
        )
        # lxml keeps a validator's error log on the validator, so two threads validating
        # with one at once can read each other's log: a refused request got the other
        # thread's empty error, a fault saying "None". Every use of Spyne's validator goes
        # through this lock (microseconds; uncontended with one thread per process).
        self.validation_lock = threading.Lock()
        spyne_validate = self.validate_document

        def validate_document(payload: etree._Element) -> None:
            with self.validation_lock:
                spyne_validate(payload)

        self.validate_document = validate_document

    def validate_body(self, ctx: Any, message: Any) -> None:
        header = ctx.in_header_doc
        entry = None if header is None else header.find(HEADER_TAG)
        if entry is not None:
            self._validate_header(entry)
        body = ctx.in_body_doc
        if ctx.descriptor.name == "GetStatus":
            if len(body) or (body.text or "").strip():
                raise ClientError(
                    "GetStatus: content is not allowed; the job id travels in the "
                    "ActivityMetadata header"
                )
            # Routed by its name, and empty: nothing left for the schema to judge but
            # attributes, which ASMX ignores too.
            return
        super().validate_body(ctx, message)  # type: ignore[misc]

    def deserialize(self, ctx: Any, message: Any) -> None:
        """Spyne's, but for GetStatus, the poll: its body is empty and its header entry has
        passed the schema (validate_body), so the header is built field by field with Spyne's
        values converted as the schema has typed them (Spyne's generic walk and per-field
        deserializers cost about 150 µs for a full Cora header; this, about 10)."""
        if ctx.descriptor.name != "GetStatus":
            super().deserialize(ctx, message)  # type: ignore[misc]
            return
        self.event_manager.fire_event("before_deserialize", ctx)  # type: ignore[attr-defined]
        header = ctx.in_header_doc
        entry = None if header is None else header.find(HEADER_TAG)
        ctx.in_header = None if entry is None else self._header(ctx, entry)
        ctx.in_object = ()
        self.event_manager.fire_event("after_deserialize", ctx)  # type: ignore[attr-defined]

    def _header(self, ctx: Any, entry: etree._Element) -> ActivityMetadata:
        values: dict[str, Any] = {}
        for child in entry:
            if isinstance(child.tag, str):
                name = child.tag.rpartition("}")[2]  # the schema has checked its namespace
                if child.get(_XSI_NIL) in ("true", "1"):
                    values[name] = None
                else:
                    values[name] = HEADER_FIELDS[name](child.text or "")
        return ActivityMetadata(**values)

    def _validate_header(self, entry: etree._Element) -> None:
        if plainly_valid_header(entry):
            return
        with self.validation_lock:
            if self.validation_schema.validate(entry):
                return
            message = str(self.validation_schema.error_log.last_error)
        raise ClientError(_clean_schema_error(message))

    def create_out_string(self, ctx: Any, charset: str | None = None) -> None:
        """The answer in ASMX's envelope: our namespace as the default one."""
        ctx.out_string = [render_response(self.version, ctx.out_body_doc[0])]


class _Soap11(_AsmxSoap, Soap11):
    version = SOAP11


class _Soap12(_AsmxSoap, Soap12):
    version = SOAP12


class _EventManager(EventManager):
    """Spyne's, without building an empty ordered set for each event nobody listens to: eight
    of them per call, a tenth of what a GetStatus costs in Spyne."""

    def fire_event(self, event_name: str, ctx: Any, *args: Any, **kwargs: Any) -> None:
        handlers = self.handlers.get(event_name)
        if handlers:
            for handler in handlers:
                handler(ctx, *args, **kwargs)


def _lighten(manager: EventManager) -> None:
    # In place, so that every holder of this manager (a service class, its method
    # descriptors, a protocol) keeps the same object and its listeners.
    manager.__class__ = _EventManager


class CoraApplication(Application):
    def process_request(self, ctx: Any) -> None:
        """Spyne's process_request with its events, minus its error handling: Spyne would log
        every refused request at CRITICAL and turn it into its own Fault; ours travel on to
        the front door, which answers as ASMX does."""
        try:
            ctx.fire_event("method_call")
            # Our methods are wrapped and return one value each.
            ctx.out_object = [self.call_wrapper(ctx)]
            ctx.protocol = ctx.outprot_ctx
            ctx.fire_event("method_return_object")
        except Exception as error:
            ctx.out_error = error
            ctx.fire_event("method_exception_object")
            raise


def _answer_from_template(ctx: Any) -> None:
    """GetStatus's answer filled into its out protocol's template: Spyne sees ctx.out_string
    set and skips its serializer (about 4x the cost of the template here)."""
    if ctx.descriptor.name != "GetStatus":
        return
    result = ctx.out_object[0]
    template: StatusTemplate = ctx.out_protocol.status_template
    ctx.out_string = [template.render(result.Status, result.ErrorCode, result.ExternalContext)]


class _Contexts:
    """Spyne's MethodContext for each request, built in one step: Spyne's __init__ sets its
    forty attributes one at a time through a guarded __setattr__ and builds the protocol
    contexts of the application's default binding, a fifth of a GetStatus on HTTP GET. This
    starts from the attributes a context built by Spyne has (taken once, from one) and builds
    what belongs to one request for the binding's own protocols; the same event fires."""

    # What each context must have of its own: Spyne's __init__ builds these per call.
    FRESH = frozenset(
        (
            "call_start",
            "transport",
            "outprot_ctx",
            "inprot_ctx",
            "protocol",
            "event",
            "files",
            "pusher_stack",
            "_in_protocol",
            "_out_protocol",
        )
    )

    def __init__(self, server: ServerBase) -> None:
        self.server = server
        model = MethodContext(server, MethodContext.SERVER)
        self.blank = {k: v for k, v in model.__dict__.items() if k not in self.FRESH}
        shared = [
            k
            for k, v in self.blank.items()
            if not (v is None or v is server.app or isinstance(v, bool))
        ]
        # A Spyne that adds a mutable attribute must not have it shared between requests.
        if shared or not model.__dict__.keys() >= self.FRESH:
            raise RuntimeError(f"Spyne's MethodContext changed: {shared or self.FRESH}")

    def new(self, protocols: tuple[Any, Any], udc: Any, request: str) -> Any:
        """A context for `request` (the request element's name) on the binding of
        `protocols`, with its user context."""
        server = self.server
        ctx = MethodContext.__new__(MethodContext)
        state = ctx.__dict__
        state.update(self.blank)
        state["udc"] = udc
        state["method_request_string"] = request
        state["call_start"] = time.time()
        state["transport"] = TransportContext(ctx, server)
        state["_in_protocol"], state["_out_protocol"] = protocols
        state["outprot_ctx"] = protocols[1].get_context(ctx, server)
        state["inprot_ctx"] = state["protocol"] = protocols[0].get_context(ctx, server)
        state["event"] = EventContext(ctx)
        state["files"] = []
        state["pusher_stack"] = []
        ctx.fire_event("method_context_created")
        return ctx


class Bindings:
    """The Spyne application, with one protocol instance per binding."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        # Spyne's rule: a protocol instance belongs to one application, in one direction.
        soap11 = (_Soap11(validator="lxml"), _Soap11())
        self.app = CoraApplication(
            [CoraOcrIntegration],
            tns=TNS,
            name="CoraOcrIntegration",
            in_protocol=soap11[0],
            out_protocol=soap11[1],
        )
        self.soap_protocols: dict[SoapVersion, tuple[_AsmxSoap, _AsmxSoap]] = {
            SOAP11: soap11,
            SOAP12: (_Soap12(validator="lxml"), _Soap12()),
        }
        self.http_protocols = (HttpGetPost(), HttpGetPost())
        protocols: list[Any] = [*self.soap_protocols[SOAP11], *self.soap_protocols[SOAP12]]
        protocols += self.http_protocols
        for protocol in protocols[2:]:
            protocol.set_app(self.app)
        self.server = ServerBase(self.app)
        self.contexts = _Contexts(self.server)
        managers = [self.app.event_manager, CoraOcrIntegration.event_manager]
        managers += [protocol.event_manager for protocol in protocols]
        for descriptors in self.app.interface.service_method_map.values():
            managers += [m for d in descriptors for m in d.event_managers]
        for manager in managers:
            _lighten(manager)
        self.app.event_manager.add_listener("method_return_object", _answer_from_template)

    def soap(
        self,
        version: SoapVersion,
        header: etree._Element | None,
        payload: etree._Element,
        principal: Principal | None = None,
    ) -> bytes:
        """The answer to a checked and routed SOAP request (cora_ocr.asmx.request)."""
        protocols = self.soap_protocols[version]
        ctx = self._context(protocols, payload.tag, principal)
        ctx.in_header_doc = header
        ctx.in_body_doc = payload
        protocol = protocols[0]
        try:
            protocol.validate_body(ctx, ProtocolBase.REQUEST)
            protocol.deserialize(ctx, ProtocolBase.REQUEST)
        except Fault as fault:
            raise ClientError(_fault_text(fault)) from None
        except (ValueError, TypeError) as exc:
            raise ClientError(f"the request could not be read: {exc}") from None
        return self._answer(ctx)

    def http(
        self, operation: str, params: dict[str, list[str]], principal: Principal | None
    ) -> bytes:
        """The answer to an HTTP GET or POST of `operation` with these fields."""
        ctx = self._context(self.http_protocols, f"{{{TNS}}}{operation}", principal)
        ctx.in_document = params
        self.http_protocols[0].deserialize(ctx, ProtocolBase.REQUEST)
        return self._answer(ctx)

    def _context(
        self, protocols: tuple[Any, Any], request: str, principal: Principal | None
    ) -> Any:
        # The binding's protocols in place of the application's defaults (SOAP 1.1), set
        # behind Spyne's in_protocol setter, which would re-home the protocol.
        ctx = self.contexts.new(protocols, UserContext(self.jobs, principal), request)
        handles = protocols[0].get_call_handles(ctx)
        if not handles:
            raise UnknownOperation(
                f"the request element {etree.QName(request).localname!r}"
                " is not an operation of this service"
            )
        ctx.descriptor = handles[0]
        return ctx

    def _answer(self, ctx: Any) -> bytes:
        try:
            self.app.process_request(ctx)
            self.server.get_out_string(ctx)
            return b"".join(ctx.out_string)
        finally:
            # MethodContext.close() without its gc.collect() (once a second per process: a
            # pause of milliseconds in somebody's request, for file handles we never open).
            ctx.call_end = time.time()
            self.app.event_manager.fire_event("method_context_closed", ctx)
            ctx.is_closed = True
