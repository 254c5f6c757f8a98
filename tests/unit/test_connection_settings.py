"""The `connections` setting: local folders and each kind of KINDS as the settings file and the
environment give them (cora_ocr/connections/specs.py, each kind's module); a bad one names its
key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cora_ocr.config import load_settings
from cora_ocr.connections.azure_blob import AzureBlobSpec
from cora_ocr.connections.ftp import FtpSpec
from cora_ocr.connections.s3 import S3Spec
from cora_ocr.connections.sftp import SftpSpec
from cora_ocr.connections.smb import SmbSpec
from cora_ocr.connections.specs import KINDS, kind_module, parse_connections
from cora_ocr.errors import SettingsError


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "webdav"}, "connections.X.type: 'webdav' is not one of local, sftp, smb"),
        ({"type": "ftp", "host": "h", "user": "u", "root": "/r"}, "X.password_env: is required"),
        (
            {"type": "ftp", "host": "h", "user": "u", "password_env": "P", "tls": "yes"},
            "connections.X.tls: 'yes' is not true or false",
        ),
        ({"type": "s3"}, "connections.X.bucket: is required"),
        ({"type": "s3", "bucket": "b", "base_path": "a/../b"}, "X.base_path: must not contain"),
        ({"type": "s3", "bucket": "b", "access_key_env": "A"}, "give access_key_env and secret"),
        ({"type": "s3", "bucket": "b", "endpoint_url": "localhost:9000"}, "is not an http(s)"),
        ({"type": "s3", "bucket": "b", "password_env": "P"}, "X.password_env: unknown key"),
        ({"type": "azure_blob", "container": "c"}, "give account_name with account_key_env"),
        (
            {"type": "azure_blob", "container": "c", "account_key_env": "K"},
            "account_key_env needs account_url and account_name",
        ),
        (
            {
                "type": "azure_blob",
                "container": "c",
                "account_key_env": "K",
                "connection_string_env": "S",
            },
            "give account_name with account_key_env, or connection_string_env",
        ),
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


def test_s3_azure_and_ftp_connections_keep_their_secrets_out_of_the_file() -> None:
    environ = {"S3_ID": "AKID", "S3_KEY": "s3-secret", "BLOB": "blob-key", "FTP_PW": "ftp-pw"}
    specs = parse_connections(
        "connections",
        {
            "Bucket": {
                "type": "s3",
                "bucket": "invoices",
                "base_path": "/cora/in/",
                "region": "eu-central-1",
                "access_key_env": "S3_ID",
                "secret_key_env": "S3_KEY",
            },
            "Chain": {"type": "s3", "bucket": "invoices"},
            "Blob": {
                "type": "azure_blob",
                "account_url": "https://acme.blob.core.windows.net",
                "account_name": "acme",
                "account_key_env": "BLOB",
                "container": "scans",
            },
            "Ftp": {"type": "ftp", "host": "ftp.acme", "user": "cora", "password_env": "FTP_PW"},
            "PlainFtp": {
                "type": "ftp",
                "host": "ftp.acme",
                "user": "cora",
                "password_env": "UNSET",
                "tls": False,
                "root": "/ocr",
            },
        },
        environ,
    )
    bucket, chain, blob, ftp, plain = (
        specs[n] for n in ("Bucket", "Chain", "Blob", "Ftp", "PlainFtp")
    )
    assert isinstance(bucket, S3Spec) and isinstance(chain, S3Spec)
    assert (bucket.base_path, bucket.access_key, bucket.secret_key) == (
        "cora/in",
        "AKID",
        "s3-secret",
    )
    assert bucket.describe() == "s3://invoices/cora/in" and bucket.secret_problem() is None
    assert (chain.access_key_env, chain.access_key) == (None, None)  # the SDK's own chain
    assert isinstance(blob, AzureBlobSpec) and blob.account_key == "blob-key"
    assert blob.describe() == "azure-blob https://acme.blob.core.windows.net/scans"
    assert isinstance(ftp, FtpSpec) and (ftp.tls, ftp.passive, ftp.port, ftp.root) == (
        True,
        True,
        21,
        "/",
    )
    assert ftp.describe() == "ftps://cora@ftp.acme:21/"
    assert isinstance(plain, FtpSpec) and plain.describe() == "ftp://cora@ftp.acme:21/ocr"
    assert plain.secret_problem() == "environment variable UNSET (password_env) is not set"
    for spec in specs.values():
        for secret in environ.values():
            assert secret not in repr(spec)


def test_sdk_errors_become_the_reasons_and_retries_the_worker_knows() -> None:
    """Throttling and unreachable stores are tried again (transient); wrong keys, missing
    buckets and containers are not; a missing key or blob is the caller's missing input."""
    from azure.core import exceptions as azure
    from botocore.exceptions import ClientError, EndpointConnectionError

    from cora_ocr.connections.azure_blob import AzureBlobStorage
    from cora_ocr.connections.files import TargetExists
    from cora_ocr.connections.s3 import S3Storage
    from cora_ocr.connections.storage import StorageError

    s3 = S3Storage("S3", S3Spec(bucket="invoices"))

    def client_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
        response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(response, operation)

    def said(error: BaseException) -> tuple[str, bool | None]:
        if isinstance(error, StorageError):
            return error.reason, error.transient
        return type(error).__name__, None

    assert said(s3.translate(client_error("SlowDown", 503))) == (
        "the store is busy or failing (SlowDown); tried 4 times with backoff",
        True,
    )
    assert said(s3.translate(EndpointConnectionError(endpoint_url="http://s3"))) == (
        'cannot reach the store: Could not connect to the endpoint URL: "http://s3"',
        True,
    )
    assert said(s3.translate(client_error("AccessDenied", 403)))[1] is False
    assert said(s3.translate(client_error("NoSuchBucket", 404))) == (
        "bucket invoices does not exist",
        False,
    )
    assert said(s3.translate(client_error("404", 404, "HeadBucket")))[0].startswith("bucket")
    assert isinstance(s3.translate(client_error("404", 404, "HeadObject")), FileNotFoundError)
    assert isinstance(s3.translate(client_error("PreconditionFailed", 412)), TargetExists)

    blob = AzureBlobStorage("Blob", AzureBlobSpec(container="scans", connection_string_env="S"))
    busy = azure.HttpResponseError(message="server busy")
    busy.status_code = 503
    assert said(blob.translate(busy))[1] is True
    assert said(blob.translate(azure.ServiceRequestError("refused")))[1] is True
    denied = azure.HttpResponseError(message="denied")
    denied.status_code = 403
    assert said(blob.translate(denied))[1] is False
    missing = azure.ResourceNotFoundError(message="gone")
    assert isinstance(blob.translate(missing), FileNotFoundError)
    assert isinstance(blob.translate(azure.ResourceExistsError(message="there")), TargetExists)


@pytest.mark.parametrize("location", ["../other", "/etc", "C:\\\\Windows", "in/../../x"])
def test_object_store_and_ftp_paths_stay_under_their_base(location: str) -> None:
    """Confinement is the same text check on every kind, at FileBatch time."""
    from cora_ocr.connections import open_storage
    from cora_ocr.errors import InvalidField

    specs = parse_connections(
        "connections",
        {
            "S3": {"type": "s3", "bucket": "b", "base_path": "cora"},
            "Blob": {"type": "azure_blob", "container": "c", "connection_string_env": "S"},
            "Ftp": {"type": "ftp", "host": "h", "user": "u", "password_env": "P", "root": "/r"},
        },
        {},
    )
    for name, spec in specs.items():
        storage = open_storage(name, spec)
        assert str(storage.resolve("InputFile", "in/2026", "scan.pdf")).endswith("in/2026/scan.pdf")
        with pytest.raises(InvalidField, match=r"InputFile\.RelativeLocation"):
            storage.resolve("InputFile", location, "scan.pdf")
    s3 = open_storage("S3", specs["S3"])
    assert str(s3.resolve("OutPutFile", "out", "a.xml")) == "cora/out/a.xml"


def test_ftp_without_tls_is_a_warning_and_access_is_the_same_for_every_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cora_ocr.connections import open_storage
    from cora_ocr.connections.access import parse_access

    table = {
        "Plain": {"type": "ftp", "host": "h", "user": "u", "password_env": "P", "tls": False},
        "Inbox": {"type": "s3", "bucket": "b", "per_license": True},
        "Shared": {
            "type": "azure_blob",
            "container": "c",
            "connection_string_env": "S",
            "licenses": "*",
        },
    }
    specs = parse_connections("connections", table, {})
    with caplog.at_level("WARNING"):
        open_storage("Plain", specs["Plain"])
    assert "tls = false: the password and the files cross the network" in caplog.text
    access = parse_access("connections", table)
    assert access["Inbox"].folder("3f9c2a7e5b1d4c60") == "3f9c2a7e5b1d4c60"
    assert access["Shared"].folder("3f9c2a7e5b1d4c60") == ""
    assert access["Plain"].folder("3f9c2a7e5b1d4c60") is None  # named by no license


def test_each_kind_module_holds_its_spec_keys_parser_and_storage() -> None:
    for kind in KINDS:
        module = kind_module(kind)
        assert {"type", "timeout"} <= module.KEYS, kind
        assert callable(module.parse) and callable(module.storage), kind
    entry = {"type": "smb", "host": "h", "user": "u", "password_env": "P", "share": "s"}
    spec = parse_connections("connections", {"S": entry}, {"P": "pw"})["S"]
    assert spec.kind == "smb" and kind_module("smb").storage("S", spec).kind == "smb"
