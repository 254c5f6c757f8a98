"""Behind a real nginx on this machine (issue 25, items 4 and 11): a request through a trusted
proxy is never local, so nobody is anonymous there; the client's address and scheme are the
ones the proxy wrote (the nearest hop, as Werkzeug's ProxyFix takes them), never ones a client
put in its own X-Forwarded-* headers."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import requests

from cora_ocr.cli.common import local_setup
from cora_ocr.config import Settings
from cora_ocr.errors import SettingsError
from cora_ocr.job_view import PREFIX
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services
from cora_ocr.web.proxy import PROXIED, is_local
from tests.conftest import RunService
from tests.support.calls import get_status
from tests.support.nginx import PROXY_ADDRESS, nginx, proxy_to
from tests.support.processes import free_port

on_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # store-independent


def test_behind_a_proxy_anonymous_callers_are_refused_by_the_settings() -> None:
    # `serve` behind a proxy on this machine: the local setup no longer means anonymous.
    behind = local_setup(Settings(trusted_proxies=frozenset({"127.0.0.1"})))
    assert behind.allow_anonymous is False
    assert local_setup(Settings()).allow_anonymous is True  # the zero-setup default stays
    with pytest.raises(SettingsError, match="allow_anonymous: not behind a proxy"):
        Settings(allow_anonymous=True, trusted_proxies=frozenset({"127.0.0.1"}))
    # And the rule the guard applies: what came through a proxy is never local.
    assert is_local({"REMOTE_ADDR": "127.0.0.1"})
    assert not is_local({"REMOTE_ADDR": "127.0.0.1", PROXIED: True})
    assert not is_local({"REMOTE_ADDR": "203.0.113.9"})


@on_sqlite
def test_through_nginx_nobody_is_anonymous_and_the_client_is_who_nginx_says(
    services: Services,
    running_service: RunService,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = local_setup(
        dataclasses.replace(
            services.settings,
            allow_anonymous=None,
            require_https=None,
            trusted_proxies=frozenset({PROXY_ADDRESS}),
        )
    )
    running = running_service(settings)
    built, upstream = running.services, running.port
    port = free_port()
    license_id = built.licensing.create_license("Acme")
    auth = (license_id, built.licensing.create_app(license_id, "intake"))
    with nginx(tmp_path / "nginx", {port: proxy_to(upstream)}):
        base = f"http://127.0.0.1:{port}"
        jobs = requests.get(f"{base}{PREFIX}/jobs", timeout=10)
        assert jobs.status_code == 401, jobs.text
        assert get_status(base + SERVICE_PATH).status_code == 401
        assert requests.delete(f"{base}{PREFIX}/jobs/1", timeout=10).status_code == 401
        caplog.set_level(logging.INFO, logger="cora_ocr.access")
        spoofed = requests.get(
            f"{base}{PREFIX}/jobs",
            auth=auth,
            headers={"X-Forwarded-For": "203.0.113.9"},
            timeout=10,
        )
        assert spoofed.status_code == 200, spoofed.text
    lines = [r.getMessage() for r in caplog.records if r.name == "cora_ocr.access"]
    assert any("/api/v1/jobs" in line and "peer=127.0.0.1" in line for line in lines), lines
    assert not any("203.0.113.9" in line for line in lines), lines


@on_sqlite
def test_a_client_cannot_claim_https_through_a_proxy_that_appends(
    services: Services, running_service: RunService, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        services.settings,
        allow_anonymous=False,
        require_https=True,
        trusted_proxies=frozenset({PROXY_ADDRESS}),
    )
    running = running_service(settings)
    built, upstream = running.services, running.port
    appends, terminates = free_port(), free_port()
    license_id = built.licensing.create_license("Acme")
    auth = (license_id, built.licensing.create_app(license_id, "intake"))
    with nginx(
        tmp_path / "nginx",
        {
            # A proxy that adds its own scheme after what the client sent.
            appends: proxy_to(upstream, "$http_x_forwarded_proto, $scheme"),
            # One that terminated TLS (as in front of a real service) and says so.
            terminates: proxy_to(upstream, "https"),
        },
    ):
        claimed = get_status(
            f"http://127.0.0.1:{appends}{SERVICE_PATH}",
            auth,
            headers={"X-Forwarded-Proto": "https"},
        )
        assert claimed.status_code == 403 and b"HTTPS is required" in claimed.content
        said = get_status(f"http://127.0.0.1:{terminates}{SERVICE_PATH}", auth)
        assert said.status_code == 200, said.text
        wsdl = requests.get(f"http://127.0.0.1:{terminates}{SERVICE_PATH}?wsdl", timeout=10)
        assert f'location="https://127.0.0.1:{terminates}{SERVICE_PATH}"' in wsdl.text
    direct = get_status(
        f"http://127.0.0.1:{upstream}{SERVICE_PATH}", auth, {"X-Forwarded-Proto": "https"}
    )
    assert direct.status_code == 403  # no proxy: the header means nothing


def test_plain_http_refused_unless_a_trusted_proxy_says_https(
    services: Services, running_service: RunService
) -> None:
    # Behind a proxy nobody is anonymous (tests/acceptance/test_proxy.py): the caller has credentials.
    settings = dataclasses.replace(
        services.settings,
        require_https=True,
        allow_anonymous=False,
        trusted_proxies=frozenset({"127.0.0.1"}),
    )
    running = running_service(settings)
    license_id = running.services.licensing.create_license("Acme")
    auth = (license_id, running.services.licensing.create_app(license_id, "intake"))
    url = running.url
    try:
        plain = requests.get(url + "?wsdl")
        assert plain.status_code == 403 and "HTTPS is required" in plain.text
        soap = get_status(url, auth)
        assert soap.status_code == 403 and b"soap:Client" in soap.content
        forwarded = get_status(url, auth, headers={"X-Forwarded-Proto": "https"})
        assert forwarded.status_code == 200
        wsdl = requests.get(url + "?wsdl", headers={"X-Forwarded-Proto": "https"})
        assert 'location="https://127.0.0.1' in wsdl.text
    finally:
        running.stop()
    untrusted = running_service(settings, trusted_proxies=frozenset())
    assert get_status(untrusted.url, auth, {"X-Forwarded-Proto": "https"}).status_code == 403
