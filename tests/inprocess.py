"""requests (and so zeep) talking to the WSGI app in this process, through Werkzeug's test
Client: no socket, no thread, no server. The unit and integration tiers (their conftest.py)
take these fixtures in place of a live server's; what only a real server shows (its limits
on slow or oversized bodies, TLS, proxies, several processes) is tested in tests/acceptance/.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import zeep
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import Client
from zeep.transports import Transport

from cora_ocr.config import Settings
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services, build_services
from cora_ocr.store import Store
from cora_ocr.web.app import create_app
from tests.conftest import LiveServer, Strict
from tests.factories import ManualClock

BASE = "http://testserver"
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
        response.raw = io.BytesIO(content)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        return None


def _as_bytes(chunks: Iterable[Any]) -> Iterable[bytes]:
    for chunk in chunks:
        yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)


def session_for(app: Any, auth: Any = None) -> requests.Session:
    """A requests session whose calls to BASE are answered by `app` in this process."""
    session = requests.Session()
    session.mount(BASE, WsgiAdapter(app))
    session.auth = auth
    return session


def zeep_client_for(app: Any, wsdl: str, auth: Any = None) -> zeep.Client:
    return zeep.Client(wsdl, transport=Transport(session=session_for(app, auth)))


# --- the fixtures: a live server's, in-process -----------------------------------------
@pytest.fixture(scope="session")
def live_server(settings: Settings, store: Store) -> Iterator[LiveServer]:
    """The app, answering in-process at BASE (no server)."""
    yield LiveServer(create_app(build_services(settings, store)), BASE)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[requests.Session]:
    with session_for(live_server.app) as session:
        yield session


@pytest.fixture
def zeep_client(server: LiveServer) -> zeep.Client:
    return zeep_client_for(server.app, server.wsdl)


@dataclasses.dataclass
class InProcessStrict(Strict):
    def session(self, auth: Any = None) -> requests.Session:
        return session_for(self.app, auth)


@pytest.fixture
def strict(services: Services) -> InProcessStrict:
    settings = dataclasses.replace(services.settings, allow_anonymous=False, region="eu")
    clock = ManualClock()
    clock._now = clock._now.replace(minute=59, second=30, microsecond=0)
    built = build_services(settings, services.store, clock)
    return InProcessStrict(built, create_app(built, clock), clock, BASE + SERVICE_PATH)
