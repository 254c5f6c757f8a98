"""The `connections` setting: local folders, SFTP servers and SMB shares as the settings file
and the environment give them (cora_ocr/connections/specs.py); a bad one names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cora_ocr.config import load_settings
from cora_ocr.connections.specs import SftpSpec, SmbSpec, parse_connections
from cora_ocr.errors import SettingsError


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "ftp"}, "connections.X.type: 'ftp' is not one of local, sftp, smb"),
        ({"type": "sftp", "user": "u", "root": "/r", "key_file": "k"}, "connections.X.host"),
        ({"type": "sftp", "host": "h", "user": "u", "root": "/r"}, "give key_file or password_env"),
        ({"type": "sftp", "host": "h", "user": "u", "root": "/r/../x", "key_file": "k"}, ".root"),
        (
            {"type": "sftp", "host": "h", "user": "u", "root": "/", "key_file": "k", "prot": 1},
            "prot",
        ),
        ({"type": "smb", "host": "h", "user": "u", "share": "s"}, "connections.X.password_env"),
        ({"type": "smb", "host": "h", "user": "u", "share": "a/b", "password_env": "P"}, ".share"),
        (
            {"type": "smb", "host": "h", "user": "u", "share": "s", "password_env": "P", "port": 0},
            ".port",
        ),
    ],
)
def test_a_bad_connection_setting_names_its_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_connections("connections", {"X": entry}, {})
    assert message in str(error.value)


def test_typed_connections_from_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "cora-ocr.toml"
    config.write_text(
        "[connections]\nScans = '/srv/scans'\n"
        "[connections.Archive]\ntype = 'sftp'\nhost = 'files'\nuser = 'cora'\n"
        "key_file = '/k'\nroot = '/data/ocr/'\n"
        "[connections.Share]\ntype = 'smb'\nhost = 'fs'\nshare = 'W'\nuser = 'D\\u'\n"
        "password_env = 'SHARE_PW'\nroot = 'ocr\\in'\ntimeout = 5\n"
    )
    settings = load_settings(config, environ={"SHARE_PW": "secret"})
    connections = settings.effective_connections
    assert connections["Scans"] == Path("/srv/scans")
    archive, share = connections["Archive"], connections["Share"]
    assert isinstance(archive, SftpSpec) and isinstance(share, SmbSpec)
    assert (archive.port, archive.root, archive.known_hosts) == (22, "/data/ocr", None)
    assert (share.port, share.root, share.user, share.timeout) == (445, "ocr/in", "D\\u", 5.0)
    assert share.password == "secret" and "secret" not in repr(share)
    assert share.describe() == "smb://D\\u@fs:445/W/ocr/in"


def test_an_environment_variable_may_hold_typed_connections_as_json() -> None:
    settings = load_settings(
        environ={
            "CORA_OCR_CONNECTIONS": '{"A": "/a", "B": {"type": "sftp", "host": "h",'
            ' "user": "u", "root": "/r", "password_env": "P", "known_hosts": false}}',
            "P": "pw",
        }
    )
    b = settings.effective_connections["B"]
    assert isinstance(b, SftpSpec) and b.known_hosts is False and b.password == "pw"
