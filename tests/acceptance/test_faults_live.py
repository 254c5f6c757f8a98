"""Faults a live server gives: an unexpected error inside the app (a generic Server fault, the
details only in the log), and fault texts under concurrent requests on real threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cora_ocr.store import Store
from cora_ocr.web.faults import GENERIC_SERVER_TEXT
from tests.conftest import LiveServer, RunService
from tests.support.calls import TEXT_PLAIN, fault_of, post11, post12
from tests.support.factories import (
    action,
    envelope,
    file_batch_body,
    get_status_body,
    header_xml,
)

GET_STATUS = envelope(get_status_body())


# --- server faults: a real failure (a database without tables), no mocks -----------------
@pytest.fixture
def broken_server(tmp_path: Path, running_service: RunService) -> Iterator[LiveServer]:
    store = Store(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    running = running_service(store=store)
    yield LiveServer(running.app, running.base)
    running.stop()
    store.dispose()


@pytest.mark.parametrize("soap12", [False, True])
def test_unexpected_error_is_a_generic_server_fault(
    http: requests.Session, broken_server: LiveServer, soap12: bool
) -> None:
    body = envelope(get_status_body(), header_xml(1), soap12=soap12)
    reply = (
        post12(http, broken_server, body)
        if soap12
        else post11(http, broken_server, body, action("GetStatus"))
    )
    assert reply.status_code == 500
    code, text = fault_of(reply)
    assert code == ("soap:Receiver" if soap12 else "soap:Server")
    assert text == GENERIC_SERVER_TEXT
    for leak in ("Traceback", "sqlite", "jobs", "OperationalError"):
        assert leak not in reply.text


def test_unexpected_error_over_http_get_is_plain(
    http: requests.Session, broken_server: LiveServer
) -> None:
    reply = http.get(broken_server.url + "/GetStatus", params={"MasterWorkflowInstanceId": "1"})
    assert reply.status_code == 500
    assert reply.headers["Content-Type"] == TEXT_PLAIN
    assert reply.text == GENERIC_SERVER_TEXT


def test_fault_texts_hold_under_concurrent_requests(server: LiveServer) -> None:
    """Schema validation from several threads at once: every refused FileBatch still names
    its field (an lxml validator's error log is its own, and not shared between threads)."""
    bad_file_batch = envelope(file_batch_body(timeout="9" * 400))
    bad_header = envelope(get_status_body(), header_xml(1).replace(">1<", ">x<"))
    texts: list[str] = []

    def send(body: bytes, soap_action: str, times: int) -> None:
        with requests.Session() as http:
            for _ in range(times):
                reply = post11(http, server, body, action(soap_action))
                if reply.status_code == 500:
                    texts.append(fault_of(reply)[1])

    threads = [
        threading.Thread(target=send, args=(bad_file_batch, "FileBatch", 150)),
        threading.Thread(target=send, args=(bad_file_batch, "FileBatch", 150)),
        threading.Thread(target=send, args=(bad_header, "GetStatus", 150)),
        threading.Thread(target=send, args=(GET_STATUS, "GetStatus", 150)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(texts) == 450
    wrong = [
        text for text in texts if "TimeOut" not in text and "MasterWorkflowInstanceId" not in text
    ]
    assert wrong == []
