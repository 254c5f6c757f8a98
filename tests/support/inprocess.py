"""requests (and so zeep) talking to the WSGI app in this process, through Werkzeug's test
Client: no socket, no thread, no server. The unit and integration tiers (their conftest.py)
take these fixtures in place of a live server's: `live_server` and `strict` answer at base
URLs of their own, and any requests session sends what is addressed there to their app
(`in_process_requests`, through requests' own adapter hook); so does each service a test
starts with settings of its own (`running_service`). What only a real server shows
(its limits on slow or oversized bodies, TLS, proxies, several processes) is tested in
tests/acceptance/.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.response import HTTPResponse
from werkzeug.test import Client

from cora_ocr.config import Settings
from cora_ocr.host.app import create_app
from cora_ocr.metrics import Metrics
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services
from cora_ocr.store import Store
from cora_ocr.wakeup import LocalWakeups
from tests.conftest import (
    LiveServer,
    Running,
    RunService,
    Strict,
    process_app,
    service_runner,
    strict_services,
)
from tests.support.factories import ManualClock

BASE = "http://testserver"
STRICT_BASE = "http://strict.testserver"
# The apps that answer in-process, by the base URL they answer at: any requests session (and
# so zeep, and requests.get) sends its calls there while `in_process_requests` is in force.
APPS: dict[str, Any] = {}
_real_get_adapter = requests.Session.get_adapter
# Headers the test Client sets from the request itself.
_DERIVED = frozenset({"host", "content-length"})


class WsgiAdapter(BaseAdapter):
    """A requests transport that answers from a WSGI app (Werkzeug's test Client)."""

    def __init__(self, app: Any, remote_addr: str = "127.0.0.1") -> None:
        super().__init__()
        self.client = Client(app, use_cookies=False)  # requests keeps the cookies
        self.remote_addr = remote_addr

    def send(self, request: requests.PreparedRequest, **_options: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            body = b"".join(_as_bytes(body))  # a generator: what requests would send chunked
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DERIVED]
        answer = self.client.open(
            url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method or "GET",
            headers=headers,
            data=body or b"",
            environ_base={"REMOTE_ADDR": self.remote_addr},
        )
        content = answer.get_data()
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers.items())
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = content
        # What requests keeps of urllib3's answer (Schemathesis reads its headers).
        response.raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=list(answer.headers.items()),
            status=answer.status_code,
            preload_content=False,
        )
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        return None


def _as_bytes(chunks: Iterable[Any]) -> Iterable[bytes]:
    for chunk in chunks:
        yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)


def _get_adapter(session: requests.Session, url: str) -> BaseAdapter:
    for base, app in APPS.items():
        if url.startswith(base + "/") or url == base:
            return WsgiAdapter(app)
    return _real_get_adapter(session, url)


@pytest.fixture(autouse=True)
def in_process_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests sends what is addressed to an app of APPS to that app, in this process."""
    monkeypatch.setattr(requests.Session, "get_adapter", _get_adapter)


# --- the fixtures: a live server's, in-process -----------------------------------------
@pytest.fixture(scope="session")
def live_server(
    settings: Settings, store: Store, process_metrics: Metrics, process_wakeups: LocalWakeups
) -> Iterator[LiveServer]:
    """The app, answering in-process at BASE (no server)."""
    app = APPS[BASE] = process_app(settings, store, process_metrics, process_wakeups)
    yield LiveServer(app, BASE)
    APPS.pop(BASE, None)


@pytest.fixture
def strict(services: Services) -> Iterator[Strict]:
    built = strict_services(services)
    clock = built.clock
    assert isinstance(clock, ManualClock)
    app = APPS[STRICT_BASE] = create_app(built, clock)
    yield Strict(built, app, clock, STRICT_BASE + SERVICE_PATH)
    APPS.pop(STRICT_BASE, None)


@pytest.fixture
def running_service(services: Services) -> Iterator[RunService]:
    """tests/acceptance/conftest.py's `running_service`, in-process: each service started
    answers at a base URL of its own until the test ends (or its `stop`)."""
    yield from service_runner(services, _in_process)


_SERVICES = itertools.count(1)


def _in_process(services: Services, clock: ManualClock) -> Running:
    base = f"http://service-{next(_SERVICES)}.testserver"
    app = APPS[base] = create_app(services, clock)
    return Running(services, app, clock, base + SERVICE_PATH, lambda: APPS.pop(base, None))
