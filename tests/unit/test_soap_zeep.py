"""Acceptance 1: zeep imports ?wsdl, calls FileBatch then GetStatus over SOAP 1.1 and 1.2."""

from __future__ import annotations

import pytest
import zeep
from sqlalchemy import select

from cora_ocr.store import Job, Store
from tests.conftest import LiveServer
from tests.support.factories import GUID, activity_header, file_batch_args

PORTS = ["CoraOcrIntegrationSoap", "CoraOcrIntegrationSoap12"]


@pytest.mark.parametrize("port", PORTS)
def test_file_batch_then_get_status(zeep_client: zeep.Client, store: Store, port: str) -> None:
    service = zeep_client.bind("CoraOcrIntegration", port)
    job_id = service.FileBatch(
        **file_batch_args(ExternalContext=f"ctx-{port}"),
        _soapheaders={"ActivityMetadata": activity_header()},
    )
    assert isinstance(job_id, int) and job_id > 0

    status = service.GetStatus(_soapheaders={"ActivityMetadata": activity_header(job_id)})
    assert (status.Status, status.ErrorCode, status.ExternalContext) == (
        "Queued",
        "NoError",
        f"ctx-{port}",
    )

    with store.session() as session:
        job = session.scalars(select(Job).where(Job.id == job_id)).one()
        assert job.state == "queued"
        assert job.input_location == "in" and job.input_name == "scan.png"
        assert job.output_location == "out" and job.output_name == "scan.xml"
        assert job.put_model == "FailIfExists"
        assert job.activity_metadata is not None
        assert job.activity_metadata["WorkflowSpaceId"] == GUID
        assert job.activity_metadata["CallerId"] == 42
        assert [event.to_state for event in job.events] == ["queued"]


@pytest.mark.parametrize("port", PORTS)
def test_get_status_of_unknown_job_is_not_found(zeep_client: zeep.Client, port: str) -> None:
    service = zeep_client.bind("CoraOcrIntegration", port)
    status = service.GetStatus(_soapheaders={"ActivityMetadata": activity_header(987654321)})
    assert (status.Status, status.ErrorCode, status.ExternalContext) == (
        "NotFound",
        "NoError",
        None,
    )


def test_get_status_without_header_is_not_found(zeep_client: zeep.Client) -> None:
    status = zeep_client.service.GetStatus()
    assert (status.Status, status.ErrorCode) == ("NotFound", "NoError")


def test_file_batch_without_header_and_context(zeep_client: zeep.Client, store: Store) -> None:
    job_id = zeep_client.service.FileBatch(**file_batch_args(ExternalContext=None))
    status = zeep_client.service.GetStatus(
        _soapheaders={"ActivityMetadata": activity_header(job_id)}
    )
    assert (status.Status, status.ExternalContext) == ("Queued", None)
    with store.session() as session:
        assert session.get(Job, job_id).activity_metadata is None  # type: ignore[union-attr]


def test_ids_are_distinct_and_64_bit_capable(
    zeep_client: zeep.Client, server: LiveServer, store: Store
) -> None:
    first = zeep_client.service.FileBatch(**file_batch_args())
    second = zeep_client.service.FileBatch(**file_batch_args())
    assert second > first
    # A 64-bit id far beyond 32 bits is answered (NotFound), not rejected.
    status = zeep_client.service.GetStatus(
        _soapheaders={"ActivityMetadata": activity_header(2**62)}
    )
    assert status.Status == "NotFound"


ROUND_TRIP = {
    "carriage return": "one\rtwo\r\nthree",
    "tab": "a\tb",
    "cdata end": "x]]>y",
    "markup": "a & b < c > d \" e ' f",
    "non-BMP": "emoji \U0001f600 gothic \U00010348",
    "spaces": "  leading and trailing  ",
    "newlines only": "\n\n",
}


@pytest.mark.parametrize("text", ROUND_TRIP.values(), ids=ROUND_TRIP.keys())
def test_text_round_trips_exactly_on_every_binding(
    zeep_client: zeep.Client, server: LiveServer, text: str
) -> None:
    """ExternalContext goes in through FileBatch and comes back unchanged, by SOAP 1.1 and
    1.2 (zeep) and by HTTP GET and POST (parsed as XML, as any client does)."""
    import requests
    from lxml import etree

    from cora_ocr.namespaces import TNS

    for port in PORTS:
        service = zeep_client.bind("CoraOcrIntegration", port)
        job_id = service.FileBatch(**file_batch_args(ExternalContext=text))
        answer = service.GetStatus(_soapheaders={"ActivityMetadata": activity_header(job_id)})
        assert answer.ExternalContext == text, port
    params = {"MasterWorkflowInstanceId": str(job_id)}
    for reply in (
        requests.get(f"{server.url}/GetStatus", params=params),
        requests.post(f"{server.url}/GetStatus", data=params),
    ):
        assert reply.status_code == 200
        document = etree.fromstring(reply.content)
        assert document.findtext(f"{{{TNS}}}ExternalContext") == text, reply.request.method
