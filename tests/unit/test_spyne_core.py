"""Spyne at the core: one service class declares both operations, and every binding (SOAP 1.1,
SOAP 1.2, HTTP GET, HTTP POST) dispatches into it through the one Spyne application, whose
event listeners therefore see every call."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import zeep
from spyne import MethodContext

from cora_ocr.asmx.envelope import SOAP12
from cora_ocr.asmx.service import CoraOcrIntegration
from cora_ocr.errors import InvalidField
from cora_ocr.namespaces import TNS, XSI
from tests.conftest import LiveServer
from tests.support.factories import (
    GUID,
    SOAP11_CT,
    action,
    activity_header,
    envelope,
    file_batch_args,
    file_batch_body,
    get_status_body,
)

EVENTS = ("method_call", "method_return_object", "method_exception_object")


@dataclass(frozen=True)
class Seen:
    event: str
    operation: str
    protocol: str
    job_id: int | None
    error: str | None


@pytest.fixture
def seen(server: LiveServer) -> Iterator[list[Seen]]:
    """What listeners registered on the Spyne application see, in order."""
    app = server.app.bindings.app
    calls: list[Seen] = []

    def listener(event: str) -> Any:
        def record(ctx: Any) -> None:
            header = ctx.in_header
            calls.append(
                Seen(
                    event,
                    ctx.descriptor.name,
                    type(ctx.in_protocol).__name__,
                    None if header is None else header.MasterWorkflowInstanceId,
                    None if ctx.out_error is None else type(ctx.out_error).__name__,
                )
            )

        return record

    listeners = {event: listener(event) for event in EVENTS}
    for event, handler in listeners.items():
        app.event_manager.add_listener(event, handler)
    yield calls
    for event, handler in listeners.items():
        app.event_manager.handlers[event].discard(handler)


def test_the_application_serves_one_class_with_both_operations(server: LiveServer) -> None:
    app = server.app.bindings.app
    assert app.services == (CoraOcrIntegration,)
    assert sorted(CoraOcrIntegration.public_methods) == ["FileBatch", "GetStatus"]
    assert sorted(app.interface.service_method_map) == [
        "{http://genpact.com/cora/orchestration/ocr/1.0.0/api/}FileBatch",
        "{http://genpact.com/cora/orchestration/ocr/1.0.0/api/}GetStatus",
    ]


def test_a_listener_on_the_application_sees_every_call_on_all_four_bindings(
    server: LiveServer, zeep_client: zeep.Client, http: requests.Session, seen: list[Seen]
) -> None:
    soap12 = zeep_client.bind("CoraOcrIntegration", "CoraOcrIntegrationSoap12")
    expected: list[Seen] = []
    for service, protocol in ((zeep_client.service, "_Soap11"), (soap12, "_Soap12")):
        job_id = service.FileBatch(**file_batch_args())
        expected += [
            Seen("method_call", "FileBatch", protocol, None, None),
            Seen("method_return_object", "FileBatch", protocol, None, None),
        ]
        answer = service.GetStatus(_soapheaders={"ActivityMetadata": activity_header(job_id)})
        assert answer.Status == "Queued"
        expected += [
            Seen("method_call", "GetStatus", protocol, job_id, None),
            Seen("method_return_object", "GetStatus", protocol, job_id, None),
        ]
    url = server.url + "/GetStatus"
    for reply in (
        http.get(url, params={"MasterWorkflowInstanceId": str(job_id)}),
        http.post(url, data={"MasterWorkflowInstanceId": str(job_id)}),
    ):
        assert reply.status_code == 200 and b"<Status>Queued</Status>" in reply.content
        expected += [
            Seen("method_call", "GetStatus", "HttpGetPost", job_id, None),
            Seen("method_return_object", "GetStatus", "HttpGetPost", job_id, None),
        ]
    assert seen == expected


def test_each_call_gets_a_context_of_its_own_with_what_spyne_gives_one(
    server: LiveServer,
) -> None:
    bindings = server.app.bindings
    created: list[Any] = []
    bindings.app.event_manager.add_listener("method_context_created", created.append)
    try:
        protocols = bindings.soap_protocols[SOAP12]
        first, second = (bindings.contexts.new(protocols, None, "GetStatus") for _ in range(2))
    finally:
        bindings.app.event_manager.handlers["method_context_created"].discard(created.append)
    assert created == [first, second]
    spyne_built = MethodContext(bindings.server, MethodContext.SERVER)
    assert first.__dict__.keys() == spyne_built.__dict__.keys()
    assert (first.in_protocol, first.out_protocol) == protocols
    assert first.protocol is first.inprot_ctx and first.inprot_ctx.parent is first
    assert first.outprot_ctx.parent is first and first.event.parent is first
    assert first.transport.parent is first and first.transport.app is bindings.app
    for name in ("transport", "inprot_ctx", "outprot_ctx", "event", "files", "pusher_stack"):
        assert getattr(first, name) is not getattr(second, name), name
    first.files.append("kept")
    assert second.files == [] and first.in_header is None and second.udc is None
    assert first.method_request_string == "GetStatus"
    with pytest.raises(ValueError, match="udc"):
        first.something_new = 1  # frozen, as Spyne's are


def test_a_refused_call_reaches_the_listeners_and_the_caller_gets_asmx_fault(
    zeep_client: zeep.Client, seen: list[Seen]
) -> None:
    with pytest.raises(zeep.exceptions.Fault) as fault:
        zeep_client.service.FileBatch(**file_batch_args(TimeOut=0))
    assert fault.value.message.startswith("TimeOut")
    assert seen == [
        Seen("method_call", "FileBatch", "_Soap11", None, None),
        Seen("method_exception_object", "FileBatch", "_Soap11", None, InvalidField.__name__),
    ]


HEADERS = {
    "every field": (
        f"<WorkflowSpaceId>{GUID}</WorkflowSpaceId><WorkflowSpaceName> Claims &amp; co\u00e9"
        f"</WorkflowSpaceName><WorkflowId>{GUID.upper()}</WorkflowId><WorkflowName/>"
        "<WorkflowInstanceId> 7001 </WorkflowInstanceId><ActivityId>{guid}</ActivityId>"
        "<ActivityName>OCR\U0001f600</ActivityName><ActivityInstanceId>-9223372036854775808"
        "</ActivityInstanceId><CallerId>+42</CallerId>"
    ),
    "nil fields": (
        f'<WorkflowSpaceId xmlns:xsi="{XSI}" xsi:nil="true"/>'
        f'<WorkflowName xmlns:xsi="{XSI}" xsi:nil="1"/><CallerId>0</CallerId>'
    ),
    "only the id": "",
}


@pytest.mark.parametrize("fields", HEADERS.values(), ids=HEADERS.keys())
def test_get_status_reads_the_header_as_spyne_reads_it_for_file_batch(
    server: LiveServer, http: requests.Session, fields: str
) -> None:
    """GetStatus builds its header without Spyne's generic walk: the values must be those
    Spyne's own deserialization gives FileBatch for the same entry."""
    app = server.app.bindings.app
    headers: dict[str, dict[str, Any]] = {}

    def keep(ctx: Any) -> None:
        headers[ctx.descriptor.name] = ctx.in_header.as_dict()

    app.event_manager.add_listener("method_call", keep)
    try:
        entry = (
            f'<ActivityMetadata xmlns="{TNS}">{fields.format(guid=GUID)}'
            "<MasterWorkflowInstanceId>{job_id}</MasterWorkflowInstanceId></ActivityMetadata>"
        )
        reply = http.post(
            server.url,
            data=envelope(file_batch_body(), entry.format(job_id=0)),
            headers={"Content-Type": SOAP11_CT, "SOAPAction": action("FileBatch")},
        )
        assert reply.status_code == 200, reply.text
        job_id = int(reply.text.split("<MasterWorkflowInstanceId>")[1].split("<")[0])
        reply = http.post(
            server.url,
            data=envelope(get_status_body(), entry.format(job_id=job_id)),
            headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")},
        )
        assert reply.status_code == 200 and b"<Status>Queued</Status>" in reply.content
    finally:
        app.event_manager.handlers["method_call"].discard(keep)
    batch, status = headers["FileBatch"], headers["GetStatus"]
    assert (batch.pop("MasterWorkflowInstanceId"), status.pop("MasterWorkflowInstanceId")) == (
        0,
        job_id,
    )
    assert status == batch
    if fields:
        assert any(value is not None for value in status.values())


def _entry(fields: str) -> Any:
    from lxml import etree

    return etree.fromstring(f'<ActivityMetadata xmlns="{TNS}">{fields}</ActivityMetadata>')


# Entries Cora and SOAP stacks send: the quick judgement takes them without the validator.
PLAIN_ENTRIES = [
    "<MasterWorkflowInstanceId>42</MasterWorkflowInstanceId>",
    "\n  <MasterWorkflowInstanceId> +42\t</MasterWorkflowInstanceId>\n",
    HEADERS["every field"].format(guid=GUID)
    + "<MasterWorkflowInstanceId>7</MasterWorkflowInstanceId>",
    f"<WorkflowSpaceName>{'é' * 1024}</WorkflowSpaceName><WorkflowName/>",
    "<ActivityName>\U0001f600 ]]&gt; &amp; &lt; \r</ActivityName><CallerId>-2147483648</CallerId>",
    "<MasterWorkflowInstanceId>9223372036854775807</MasterWorkflowInstanceId>",
    "",
]
# Everything else is the schema's to judge: valid or not, the quick judgement must not accept
# what the schema refuses.
OTHER_ENTRIES = [
    "<MasterWorkflowInstanceId>9223372036854775808</MasterWorkflowInstanceId>",
    "<MasterWorkflowInstanceId>-9223372036854775809</MasterWorkflowInstanceId>",
    "<CallerId>2147483648</CallerId>",
    "<MasterWorkflowInstanceId>\u0663</MasterWorkflowInstanceId>",  # an Arabic-Indic 3
    "<MasterWorkflowInstanceId>1_000</MasterWorkflowInstanceId>",
    "<MasterWorkflowInstanceId>\u00a042</MasterWorkflowInstanceId>",
    "<MasterWorkflowInstanceId></MasterWorkflowInstanceId>",
    "<MasterWorkflowInstanceId>4.0</MasterWorkflowInstanceId>",
    f"<WorkflowId> {GUID}</WorkflowId>",
    f"<WorkflowId>{GUID}x</WorkflowId>",
    "<WorkflowId>not-a-guid</WorkflowId>",
    f"<WorkflowSpaceName>{'é' * 1025}</WorkflowSpaceName>",
    "<WorkflowSpaceName>" + "\U0001f600" * 1025 + "</WorkflowSpaceName>",
    "<CallerId>1</CallerId><WorkflowName>out of order</WorkflowName>",
    "<CallerId>1</CallerId><CallerId>2</CallerId>",
    "<Unknown>1</Unknown>",
    '<CallerId xmlns="urn:other">1</CallerId>',
    f'<WorkflowName xmlns:xsi="{XSI}" xsi:nil="true"/>',
    '<CallerId xmlns:o="urn:o" o:note="x">1</CallerId>',
    "text<CallerId>1</CallerId>",
    "<CallerId>1</CallerId>tail",
    "<WorkflowName><b>nested</b></WorkflowName>",
]


@pytest.mark.parametrize("fields", PLAIN_ENTRIES + OTHER_ENTRIES)
def test_the_quick_header_judgement_accepts_only_what_the_schema_accepts(
    server: LiveServer, fields: str
) -> None:
    from cora_ocr.asmx.bindings import plainly_valid_header

    schema = server.app.bindings.soap_protocols[SOAP12][0].validation_schema
    quick = plainly_valid_header(_entry(fields))
    assert quick is (fields in PLAIN_ENTRIES)
    if quick:
        assert schema.validate(_entry(fields)), schema.error_log
