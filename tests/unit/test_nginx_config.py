"""`cora-ocr nginx-config` (issue 26), in-process and fast: what it refuses, what it copies
from the settings, that nginx accepts what it prints; the door nginx asks before an upload's
body; the mount table that routes a path to its face, the middleware list, admission."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from cora_ocr.config import Settings
from cora_ocr.errors import AuthenticationFailed, SettingsError
from cora_ocr.host.app import create_app
from cora_ocr.host.door import DOOR_PATH, REFUSAL_HEADER
from cora_ocr.host.nginx import NginxOptions, render
from cora_ocr.licensing import Principal
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services, build_services
from cora_ocr.web import admission
from cora_ocr.web.admission import Admission
from cora_ocr.web.guard import Guard
from cora_ocr.web.stack import Mounts, build_stack

on_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # store-independent
TLS = {"tls_cert": Path("/etc/cora-ocr/cert.pem"), "tls_key": Path("/etc/cora-ocr/key.pem")}


def test_plain_http_is_refused_while_the_service_requires_https() -> None:
    with pytest.raises(SettingsError, match=r"require_https: .*--tls-cert"):
        render(Settings(), NginxOptions())
    with pytest.raises(SettingsError, match="--tls-cert: give both"):
        render(Settings(), NginxOptions(tls_cert=Path("/c.pem")))
    with pytest.raises(SettingsError, match="--listen: 'example:https'"):
        render(Settings(), NginxOptions(listen="example:https", **TLS))  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="--upstream: 'localhost'"):
        render(Settings(), NginxOptions(upstream="localhost", **TLS))  # type: ignore[arg-type]


def directives(config: str, name: str) -> list[str]:
    return [
        line.strip().removeprefix(name).strip().rstrip(";")
        for line in config.splitlines()
        if line.strip().startswith(name + " ")
    ]


def test_limits_and_deadlines_come_from_the_settings() -> None:
    settings = Settings(
        host="127.0.0.1",
        port=8123,
        max_request_bytes=2_000_000,
        max_upload_bytes=50_000_000,
        header_timeout=7,
        body_timeout=9.5,
        idle_timeout=30,
        max_connections_per_client=12,
        trusted_proxies=frozenset({"127.0.0.1"}),
    )
    config = render(settings, NginxOptions(**TLS))  # type: ignore[arg-type]
    assert directives(config, "listen") == ["80", "443 ssl"]  # the defaults with TLS
    assert directives(config, "server")[0] == "127.0.0.1:8123"  # then the two server blocks
    # the SOAP path, everything else, the uploads (with the door and its refusal page)
    assert directives(config, "client_max_body_size") == [
        "2000000",
        "2000000",
        "50000000",
        "50000000",
    ]
    assert directives(config, "client_header_timeout") == ["7s"]
    assert directives(config, "client_body_timeout") == ["9500ms"]
    assert directives(config, "keepalive_timeout") == ["30s"]
    # HTTP/1.1 to the web processes, none of their connections kept idle (a reload's race).
    assert directives(config, "keepalive") == []
    assert set(directives(config, "proxy_http_version")) == {"1.1"}
    assert directives(config, "limit_conn") == ["cora_ocr_clients 12"]
    assert directives(config, "ssl_protocols") == ["TLSv1.2 TLSv1.3"]
    assert directives(config, "proxy_request_buffering") == ["on"]
    # Set, never appended: a client's own values do not reach the app.
    assert set(directives(config, "proxy_set_header X-Forwarded-For")) == {"$remote_addr"}
    assert "$proxy_add_x_forwarded_for" not in config
    assert "trusted_proxies only: 127.0.0.1" in config


def test_plain_http_beside_https_is_refused_or_served_per_require_https() -> None:
    refusing = render(Settings(), NginxOptions(**TLS))  # type: ignore[arg-type]
    port80 = refusing.split("# Port 80.")[1].split("\n    }\n")[0]
    assert "return 301 https://$host$request_uri;" in port80 and "proxy_pass" not in port80
    serving = render(Settings(require_https=False), NginxOptions(**TLS))  # type: ignore[arg-type]
    port80 = serving.split("# Port 80.")[1].split("\n    }\n")[0]
    assert "return 301" not in port80 and "proxy_pass http://cora_ocr_web;" in port80


def door_client(services: Services, **settings: Any) -> tuple[Client, tuple[str, str]]:
    strict = dataclasses.replace(
        services.settings,
        allow_anonymous=False,
        trusted_proxies=frozenset({"10.0.0.2"}),
        **settings,
    )
    built = build_services(strict, services.store)
    license_id = built.licensing.create_license("Acme")
    app_id = built.licensing.create_app(license_id, "intake")
    return Client(create_app(built)), (license_id, app_id)


def ask(client: Client, method: str, uri: str, authorization: str = "", **more: str) -> Any:
    headers = {"X-Original-Method": method, "X-Original-URI": uri, **more}
    if authorization:
        headers["Authorization"] = authorization
    return client.get(DOOR_PATH, headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@on_sqlite
def test_the_door_judges_uploads_from_their_headers(services: Services) -> None:
    client, (license_id, app_id) = door_client(services, require_https=True)
    https = {"X-Forwarded-Proto": "https"}
    assert (
        ask(client, "POST", "/api/v1/jobs", basic(license_id, app_id), **https).status_code == 204
    )
    missing = ask(client, "POST", "/api/v1/jobs?x=1", **https)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    # nginx answers with the header line: the app's own problem document
    assert missing.headers[REFUSAL_HEADER] == missing.get_data(as_text=True)
    assert "credentials are required" in missing.json["detail"]
    wrong = ask(client, "POST", "/api/v1/jobs", basic(license_id, "nope"), **https)
    assert wrong.status_code == 401 and "do not grant access" in wrong.json["detail"]
    plain = ask(client, "POST", "/api/v1/jobs", basic(license_id, app_id))
    assert plain.status_code == 403 and "HTTPS is required" in plain.json["detail"]
    # Not an upload: the app decides once the request is in.
    assert ask(client, "GET", "/api/v1/jobs", **https).status_code == 204
    # A SOAP call is judged too (a fault, not a problem document), should nginx ask.
    soap = ask(client, "POST", SERVICE_PATH, **https, **{"Content-Type": "text/xml"})
    assert soap.status_code == 401 and b"<faultcode>" in soap.get_data()


def face(name: str) -> Any:
    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [name.encode()]

    return app


def test_a_path_reaches_the_face_mounted_at_it() -> None:
    mounts = Mounts(
        {SERVICE_PATH: face("asmx"), "/api/v1": face("rest"), "/healthz": face("health")},
        caseless=[SERVICE_PATH],
        exact=["/healthz"],
    )
    client = Client(mounts)
    assert client.get(SERVICE_PATH.upper() + "/GetStatus").get_data() == b"asmx"  # IIS's way
    assert client.get("/api/v1/jobs/3").get_data() == b"rest"
    assert client.get("/api/v1").get_data() == b"rest"
    assert client.get("/api/v10").status_code == 404  # a prefix ends at a "/"
    assert client.get("/healthz").get_data() == b"health"
    assert client.get("/healthz/x").status_code == 404
    assert client.get("/").get_data(as_text=True) == "no service at /"


def test_middleware_runs_in_the_order_listed() -> None:
    seen: list[str] = []

    def note(name: str) -> Any:
        def wrap(app: Any) -> Any:
            def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
                seen.append(name)
                return app(environ, start_response)

            return wrapped

        return wrap

    stack = build_stack(face("app"), [note("first"), note("second")])
    assert Client(stack).get("/").get_data() == b"app"
    assert seen == ["first", "second"]


class CountingLicensing:
    """Licensing as the guard asks it: one known caller, its requests counted."""

    def __init__(self) -> None:
        self.counted = 0

    def authenticate(self, license_id: str, app_id: str, *_args: object) -> Principal:
        if (license_id, app_id) != ("L", "A"):
            raise AuthenticationFailed("the License ID and App ID do not grant access", "unknown")
        return Principal(1, 1, "L", "intake", 10, 10)

    def count_request(self, *_args: object) -> None:
        self.counted += 1


def test_admission_judges_a_request_once_however_often_its_face_asks() -> None:
    licensing = CountingLicensing()
    guard = Guard(Settings(require_https=False), licensing)  # type: ignore[arg-type]
    seen: list[Any] = []

    def face_asking_twice(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        for _ in range(2):
            try:
                seen.append(admission.caller(environ))
            except AuthenticationFailed as exc:
                seen.append(exc.cause)
        start_response("200 OK", [])
        return [b""]

    client = Client(Admission(guard).around(face_asking_twice))
    client.get("/", headers={"Authorization": basic("L", "A")})
    assert [principal.license_id for principal in seen] == ["L", "L"]
    assert licensing.counted == 1  # the quota counts the request once
    seen.clear()
    client.get("/", headers={"Authorization": basic("L", "wrong")})
    assert seen == ["unknown", "unknown"] and licensing.counted == 1


def test_a_per_client_limit_past_nginx_s_own_is_nginx_s_own() -> None:
    config = render(Settings(max_connections_per_client=100_000), NginxOptions(**TLS))  # type: ignore[arg-type]
    assert directives(config, "limit_conn") == ["cora_ocr_clients 65535"]
