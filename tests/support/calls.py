"""Calls many test modules make: a SOAP fault's code and text, a licensed GetStatus, a job
put straight into a store, jobs between two connections through a zeep client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests
from lxml import etree

from cora_ocr.namespaces import SOAP11_ENV, SOAP12_ENV, XML
from cora_ocr.store import Store
from cora_ocr.store.job_store import JobStore
from cora_ocr.store.models import utcnow
from cora_ocr.store.records import NewJob
from tests.conftest import LiveServer
from tests.support.factories import (
    SOAP11_CT,
    SOAP12_CT,
    action,
    envelope,
    file_batch_args,
    file_ref,
    get_status_body,
    header_xml,
    wire_status,
)

if TYPE_CHECKING:
    import zeep

    from cora_ocr.services import Services


class ConnectionJobs:
    """FileBatch from one connection to another, GetStatus and a job's reason, for a test's
    world that holds a zeep `client` and the `services` (the remote and cloud connection
    tests)."""

    client: zeep.Client
    services: Services

    def submit(
        self, source: tuple[str, str, str], target: tuple[str, str, str], put_model: str = ""
    ) -> int:
        """A job from (connection, location, name) to another; its id."""
        connection, location, name = source
        out_connection, out_location, out_name = target
        return int(
            self.client.service.FileBatch(
                **file_batch_args(
                    InputFile=file_ref(name, location, connection),
                    OutPutFile=file_ref(out_name, out_location, out_connection),
                    PutModel=put_model,
                )
            )
        )

    def status(self, job_id: int) -> tuple[str, str]:
        return wire_status(self.client, job_id)

    def reason(self, job_id: int) -> str:
        return self.services.jobs.show(job_id).error_reason or ""


def fault_of(reply: requests.Response) -> tuple[str, str]:
    """(fault code, fault text) of a SOAP 1.1 or 1.2 fault, checking its full shape."""
    root = etree.fromstring(reply.content)
    env = etree.QName(root).namespace
    fault = root.find(f"{{{env}}}Body/{{{env}}}Fault")
    assert fault is not None, reply.text
    if env == SOAP11_ENV:
        assert [child.tag for child in fault] == ["faultcode", "faultstring", "detail"]
        assert reply.headers["Content-Type"] == SOAP11_CT
        return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""
    assert env == SOAP12_ENV
    assert reply.headers["Content-Type"] == SOAP12_CT
    assert [etree.QName(child).localname for child in fault] == ["Code", "Reason", "Detail"]
    text = fault.find(f"{{{env}}}Reason/{{{env}}}Text")
    assert text is not None and text.get(f"{{{XML}}}lang") == "en"
    return fault.findtext(f"{{{env}}}Code/{{{env}}}Value") or "", text.text or ""


def get_status(
    url: str, auth: object = None, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(
        url,
        data=envelope(get_status_body(), header_xml(1)),
        auth=auth,  # type: ignore[arg-type]
        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus"), **(headers or {})},
    )


FIELDS: dict[str, Any] = {
    "external_context": "reads-test",
    "timeout_seconds": 60,
    "input_connection": "c",
    "input_location": "in",
    "input_name": "a.png",
    "ocr_profile": "Default",
    "output_connection": "c",
    "output_location": "out",
    "output_name": "a.xml",
    "put_model": "Overwrite",
}


def new_job(store: Store, context: str | None = "reads-test", **fields: Any) -> int:
    job = NewJob(**{**FIELDS, "external_context": context, **fields})
    return JobStore(store).submit(job, "test", utcnow())


TEXT_PLAIN = "text/plain; charset=utf-8"


def post11(
    http: requests.Session,
    server: LiveServer,
    body: bytes,
    soap_action: str | None,
    content_type: str = SOAP11_CT,
) -> requests.Response:
    headers = {"Content-Type": content_type}
    if soap_action is not None:
        headers["SOAPAction"] = soap_action
    return http.post(server.url, data=body, headers=headers)


def post12(http: requests.Session, server: LiveServer, body: bytes) -> requests.Response:
    return http.post(server.url, data=body, headers={"Content-Type": SOAP12_CT})
