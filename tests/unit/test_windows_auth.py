"""Issue 36, in-process: the `[windows_auth]` settings, principals as mappings keep them, the
NTLM user file's check, the schemes a 401 offers where, and NTLM's handshake through the app
with a connection of our own (Werkzeug's test Client; pyspnego as the client, as requests_ntlm
uses it). Kerberos needs a realm: tests/acceptance/test_windows_auth.py."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spnego
from werkzeug.test import Client

from cora_ocr.config import WindowsAuthSettings, load_settings
from cora_ocr.errors import CoraError, SettingsError
from cora_ocr.host.app import create_app
from cora_ocr.licensing import principal_key
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services, build_services
from cora_ocr.web.windows import CONNECTION, Connection, WindowsAuth, user_file_problems
from tests.support.factories import SOAP11_CT, action, envelope, get_status_body, header_xml

USER, PASSWORD = "CORP\\bob", "bob-Secret-1"
SCHEME = re.compile(r"^(\w+)")


def user_line(user: str = USER, password: str = PASSWORD) -> str:
    from spnego._ntlm_raw.crypto import ntowfv1

    return f"{user}:1000:{'0' * 32}:{ntowfv1(password).hex().upper()}:[U]:LCT-00000000\n"


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "ntlm.users"
    path.write_text(user_line())
    path.chmod(0o600)
    return path


# --- settings ---------------------------------------------------------------------------------
def settings_from(tmp_path: Path, table: str) -> Any:
    config = tmp_path / "cora-ocr.toml"
    config.write_text("[windows_auth]\n" + table)
    return load_settings(config, environ={})


def test_the_table_is_read_and_is_off_by_default(tmp_path: Path, user_file: Path) -> None:
    assert load_settings(environ={}).windows_auth == WindowsAuthSettings()
    read = settings_from(
        tmp_path,
        f'enabled = true\nkeytab = "/etc/http.keytab"\nservice_principal = "HTTP/ocr.corp"\n'
        f'ntlm_user_file = "{user_file}"\n',
    ).windows_auth
    assert read.kerberos and read.ntlm and not read.ntlm_v1
    assert read.keytab == Path("/etc/http.keytab")


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("enabled = true\nkeytab_file = 'x'\n", "windows_auth.keytab_file: unknown setting"),
        ("enabled = true\n", "neither service_principal"),
        ("enabled = true\nservice_principal = 'HTTP/h'\n", "windows_auth.keytab"),
        ("service_principal = 'HTTP@h'\n", "windows_auth.service_principal"),
        ("service_principal = 'HTTP/h@REALM'\n", "windows_auth.service_principal"),
        ("enabled = 'maybe'\n", "windows_auth.enabled"),
    ],
)
def test_a_bad_table_names_its_key(tmp_path: Path, table: str, named: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(named)):
        settings_from(tmp_path, table)


def test_principals_are_kept_with_the_user_part_without_case() -> None:
    assert principal_key("Alice@CORP.EXAMPLE.COM") == "alice@CORP.EXAMPLE.COM"
    assert principal_key("corp\\Bob") == "CORP\\bob"
    for bad in ("alice", "@REALM", "CORP\\", "\\bob"):
        with pytest.raises(CoraError, match="PRINCIPAL"):
            principal_key(bad)


def test_the_user_file_must_be_0600_and_parse(user_file: Path) -> None:
    assert user_file_problems(user_file) == []
    user_file.chmod(0o640)
    assert user_file_problems(user_file) == [
        f"ntlm_user_file: {user_file} is mode 0640; it must be 0600"
    ]
    user_file.chmod(0o600)
    user_file.write_text(user_line() + "CORP\\eve:1000:nothex:nothex:[U]:LCT-0\n")
    assert user_file_problems(user_file) == [
        "ntlm_user_file: line 2 is not USER:UID:LM:NT:FLAGS:LCT"
    ]
    assert PASSWORD not in " ".join(user_file_problems(user_file))


def test_the_service_refuses_to_start_on_a_readable_user_file(
    services: Services, user_file: Path
) -> None:
    user_file.chmod(0o644)
    with pytest.raises(SettingsError, match="must be 0600"):
        create_app(ntlm_services(services, user_file))


# --- through the app --------------------------------------------------------------------------
def ntlm_services(services: Services, user_file: Path) -> Services:
    windows = WindowsAuthSettings(enabled=True, ntlm_user_file=user_file)
    settings = dataclasses.replace(services.settings, allow_anonymous=False, windows_auth=windows)
    return build_services(settings, services.store, services.clock, services.metrics)


@pytest.fixture
def ntlm_app(
    services: Services, user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Services]]:
    # The app sets these for pyspnego, as a process of ours does: restored after the test.
    for key in ("NTLM_USER_FILE", "LM_COMPAT_LEVEL"):
        monkeypatch.setenv(key, "")
    built = ntlm_services(services, user_file)
    yield create_app(built), built


def get_status(app: Any, authorization: str = "", connection: Connection | None = None) -> Any:
    environ: dict[str, Any] = {} if connection is None else {CONNECTION: connection}
    headers = {"SOAPAction": action("GetStatus")}
    if authorization:
        headers["Authorization"] = authorization
    return Client(app).post(
        SERVICE_PATH,
        data=envelope(get_status_body(), header_xml(1)),
        content_type=SOAP11_CT,
        headers=headers,
        environ_base=environ,
    )


def offered(reply: Any) -> list[str]:
    return [SCHEME.match(value).group(1) for value in reply.headers.getlist("WWW-Authenticate")]  # type: ignore[union-attr]


def test_ntlm_is_offered_only_where_the_connection_is_kept(
    ntlm_app: tuple[Any, Services],
) -> None:
    app, _services = ntlm_app
    bound = get_status(app, connection=Connection())
    assert bound.status_code == 401
    assert offered(bound) == ["Negotiate", "NTLM", "Basic"]
    # Behind gunicorn no request knows its connection: NTLM cannot work there.
    assert offered(get_status(app)) == ["Basic"]
    refused = get_status(app, "NTLM " + base64.b64encode(client().step()).decode())
    assert refused.status_code == 401 and offered(refused) == ["Basic"]


def client(password: str = PASSWORD) -> Any:
    return spnego.client(USER, password, hostname="localhost", service="HTTP", protocol="ntlm")


def leg(app: Any, token: bytes, connection: Connection) -> Any:
    return get_status(app, "NTLM " + base64.b64encode(token).decode(), connection)


def challenge(reply: Any) -> bytes:
    assert reply.status_code == 401
    scheme, _, token = reply.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "NTLM"
    return base64.b64decode(token)


def test_an_ntlm_handshake_on_one_connection_calls_as_the_mapped_app(
    ntlm_app: tuple[Any, Services],
) -> None:
    app, built = ntlm_app
    license_id = built.licensing.create_license("Acme")
    built.licensing.map_principal(
        license_id, built.licensing.create_app(license_id, "intake"), "corp\\BOB"
    )
    connection, ntlm = Connection(), client()
    answered = leg(app, ntlm.step(challenge(leg(app, ntlm.step(), connection))), connection)
    assert answered.status_code == 200, answered.get_data(as_text=True)
    assert "<Status>NotFound</Status>" in answered.get_data(as_text=True)
    assert connection.pending is None
    listed = built.licensing.principals(license_id)
    assert listed == [("CORP\\bob", license_id, "intake")]


def test_ntlm_refusals_leave_no_handshake_behind(ntlm_app: tuple[Any, Services]) -> None:
    app, _built = ntlm_app
    wrong, connection = client("not-" + PASSWORD), Connection()
    refused = leg(app, wrong.step(challenge(leg(app, wrong.step(), connection))), connection)
    assert refused.status_code == 401 and connection.pending is None
    # The third message on another connection than the one its challenge came on.
    ntlm, first, second = client(), Connection(), Connection()
    answer = ntlm.step(challenge(leg(app, ntlm.step(), first)))
    assert leg(app, answer, second).status_code == 401
    # Garbage is a 401 too, never a 500.
    assert get_status(app, "NTLM !!!", Connection()).status_code == 401
    assert get_status(app, "Negotiate AAAA", Connection()).status_code == 401


def test_without_a_keytab_no_sealed_verdict_is_believed(
    user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A door verdict's seal is keyed by the keytab; with NTLM alone there is none, so a seal
    anyone could make (the key of an empty keytab) must not pass for the door's."""
    for key in ("NTLM_USER_FILE", "LM_COMPAT_LEVEL"):
        monkeypatch.setenv(key, "")  # WindowsAuth sets them for pyspnego; restored after
    windows = WindowsAuth(WindowsAuthSettings(enabled=True, ntlm_user_file=user_file))
    forged = windows.seal("CORP\\bob", "TlRMTVNTUAAD")
    assert forged.endswith(" CORP\\bob")
    assert windows.opened(forged, "TlRMTVNTUAAD") is None
