"""What a connection is, as the settings say it: a local folder (`Name = "/path"`), or a table
naming an SFTP server, an SMB share, an FTP server, an S3 bucket or an Azure Blob container
(`[connections.Name]`, `type = "sftp"` / `"smb"` / `"ftp"` / `"s3"` / `"azure_blob"`).

Secrets never stand in the file: `password_env` (`access_key_env`, `account_key_env`,
`connection_string_env`) names an environment variable, read when the
settings are loaded. A variable that is not set is not a settings error (admin commands run
without it); the connection says so when it is used, and `cora-ocr connections check` too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from cora_ocr.errors import SettingsError

DEFAULT_TIMEOUT = 30.0
DEFAULT_POOL_SIZE = 4


@dataclasses.dataclass(frozen=True)
class RemoteSpec:
    host: str
    user: str
    # The folder on the server the connection may not leave.
    root: str
    port: int
    # The environment variable holding the password, and its value when the settings were read.
    password_env: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False, compare=False)
    # Connecting, and each exchange with the server, may take this long.
    timeout: float = DEFAULT_TIMEOUT
    # Open sessions kept per connection and process, at most (SFTP).
    pool_size: int = DEFAULT_POOL_SIZE

    def secret_problem(self) -> str | None:
        if self.password_env and self.password is None:
            return f"environment variable {self.password_env} (password_env) is not set"
        return None


@dataclasses.dataclass(frozen=True)
class SftpSpec(RemoteSpec):
    port: int = 22
    key_file: Path | None = None
    # Host-key checking: a known_hosts file (None: the service user's ~/.ssh/known_hosts), or
    # off (False), which trusts whichever server answers.
    known_hosts: Path | bool | None = None

    kind = "sftp"

    def describe(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{self.root}"


@dataclasses.dataclass(frozen=True)
class SmbSpec(RemoteSpec):
    port: int = 445
    share: str = ""

    kind = "smb"

    def describe(self) -> str:
        return f"smb://{self.user}@{self.host}:{self.port}/{self.share}/{self.root}".rstrip("/")


@dataclasses.dataclass(frozen=True)
class FtpSpec(RemoteSpec):
    port: int = 21
    # Explicit FTPS (AUTH TLS, then protected data connections); False sends the password and
    # the files in clear, and is logged as a WARNING.
    tls: bool = True
    passive: bool = True
    # The certificate authority the server's certificate must come from (None: the system's).
    ca_file: Path | None = None

    kind = "ftp"

    def describe(self) -> str:
        scheme = "ftps" if self.tls else "ftp"
        return f"{scheme}://{self.user}@{self.host}:{self.port}{self.root}"


def _missing_env(*pairs: tuple[str | None, str | None]) -> str | None:
    for name, value in pairs:
        if name and value is None:
            return f"environment variable {name} is not set"
    return None


@dataclasses.dataclass(frozen=True)
class S3Spec:
    bucket: str
    # The key prefix the connection never leaves ("" the whole bucket).
    base_path: str = ""
    region: str | None = None
    endpoint_url: str | None = None  # an S3-compatible store: MinIO, SeaweedFS, Ceph
    # Environment variables holding the keys, and their values when the settings were read;
    # none named: the SDK's default credential chain (environment, profile, instance role).
    access_key_env: str | None = None
    access_key: str | None = dataclasses.field(default=None, repr=False, compare=False)
    secret_key_env: str | None = None
    secret_key: str | None = dataclasses.field(default=None, repr=False, compare=False)
    timeout: float = DEFAULT_TIMEOUT

    kind = "s3"

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.base_path}".rstrip("/")
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    def secret_problem(self) -> str | None:
        return _missing_env(
            (self.access_key_env, self.access_key), (self.secret_key_env, self.secret_key)
        )


@dataclasses.dataclass(frozen=True)
class AzureBlobSpec:
    container: str
    base_path: str = ""
    account_url: str | None = None
    account_name: str | None = None
    account_key_env: str | None = None
    account_key: str | None = dataclasses.field(default=None, repr=False, compare=False)
    connection_string_env: str | None = None
    connection_string: str | None = dataclasses.field(default=None, repr=False, compare=False)
    timeout: float = DEFAULT_TIMEOUT

    kind = "azure_blob"

    def describe(self) -> str:
        account = self.account_url or f"(connection string in {self.connection_string_env})"
        return f"azure-blob {account}/{self.container}/{self.base_path}".rstrip("/")

    def secret_problem(self) -> str | None:
        return _missing_env(
            (self.account_key_env, self.account_key),
            (self.connection_string_env, self.connection_string),
        )


ConnectionSpec = Path | SftpSpec | SmbSpec | FtpSpec | S3Spec | AzureBlobSpec


_ACCESS = {"licenses", "per_license"}  # read by connections/access.py
_COMMON = {"type", "host", "port", "user", "password_env", "root", "timeout", "pool_size"}
_KEYS = {
    "sftp": _COMMON | {"key_file", "known_hosts"},
    "smb": _COMMON | {"share"},
    "ftp": _COMMON | {"tls", "passive", "ca_file"},
    "s3": {"type", "bucket", "base_path", "region", "endpoint_url", "timeout"}
    | {"access_key_env", "secret_key_env"},
    "azure_blob": {"type", "account_url", "container", "base_path", "account_name", "timeout"}
    | {"account_key_env", "connection_string_env"},
}


def parse_connections(
    key: str, value: Any, environ: Mapping[str, str]
) -> dict[str, ConnectionSpec]:
    """The `connections` setting. Environment form: "Name=/path,Other=/path2", or a JSON
    object of the TOML form; TOML form: a table of `Name = "/path"` or `Name = {type = ...}`."""
    if isinstance(value, str):
        value = from_text(key, value)
    if not isinstance(value, Mapping):
        raise SettingsError(f"{key}: expected a table of name = path or name = {{type = ...}}")
    specs: dict[str, ConnectionSpec] = {}
    for name, entry in value.items():
        where = f"{key}.{name}"
        if isinstance(entry, str):
            specs[str(name)] = Path(entry)
        elif isinstance(entry, Mapping):
            specs[str(name)] = _typed(where, entry, environ)
        else:
            raise SettingsError(f"{where}: expected a path or a table with a type")
    return specs


def from_text(key: str, text: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise SettingsError(f"{key}: not a JSON object: {exc}") from None
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise SettingsError(f"{key}: {item!r} is not of the form Name=/path")
        pairs[name.strip()] = path.strip()
    return pairs


def _typed(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> ConnectionSpec:
    kind = entry.get("type", "local")
    if kind == "local":
        unknown = sorted(set(entry) - {"type", "root"} - _ACCESS)
        if unknown:
            raise SettingsError(f"{where}.{unknown[0]}: unknown key for a local connection")
        return Path(_text(where, entry, "root"))
    if kind not in _KEYS:
        raise SettingsError(f"{where}.type: {kind!r} is not one of local, {', '.join(_KEYS)}")
    unknown = sorted(set(entry) - _KEYS[kind] - _ACCESS)
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]}: unknown key for an {kind} connection")
    if kind == "s3":
        return _s3(where, entry, environ)
    if kind == "azure_blob":
        return _azure_blob(where, entry, environ)
    password_env = _optional(where, entry, "password_env")
    common: dict[str, Any] = {
        "host": _text(where, entry, "host"),
        "user": _text(where, entry, "user"),
        "password_env": password_env,
        "password": environ.get(password_env) if password_env else None,
        "timeout": _number(where, entry, "timeout", DEFAULT_TIMEOUT, 1, 3600, float),
        "pool_size": _number(where, entry, "pool_size", DEFAULT_POOL_SIZE, 1, 64, int),
    }
    if kind == "sftp":
        return _sftp(where, entry, common)
    if kind == "ftp":
        return _ftp(where, entry, common)
    return _smb(where, entry, common)


def _ftp(where: str, entry: Mapping[str, Any], common: dict[str, Any]) -> FtpSpec:
    if common["password_env"] is None:
        raise SettingsError(f"{where}.password_env: is required for an ftp connection")
    root = "/" + _base_path(where, entry, "root")
    flags = {}
    for name in ("tls", "passive"):
        flags[name] = entry.get(name, True)
        if not isinstance(flags[name], bool):
            raise SettingsError(f"{where}.{name}: {flags[name]!r} is not true or false")
    ca_file = _optional(where, entry, "ca_file")
    port = _number(where, entry, "port", 21, 1, 65535, int)
    return FtpSpec(
        root=root,
        port=port,
        tls=flags["tls"],
        passive=flags["passive"],
        ca_file=Path(ca_file) if ca_file else None,
        **common,
    )


def _base_path(where: str, entry: Mapping[str, Any], name: str) -> str:
    """A folder or key prefix as the connection keeps it: "a/b", no leading or trailing
    slash, never `..`."""
    value = entry.get(name, "")
    if not isinstance(value, str):
        raise SettingsError(f"{where}.{name}: expected a path like 'cora/in'")
    parts = [part for part in value.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SettingsError(f"{where}.{name}: must not contain '..'")
    return "/".join(parts)


def _env(environ: Mapping[str, str], name: str | None) -> str | None:
    return environ.get(name) if name else None


def _s3(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> S3Spec:
    access, secret = (
        _optional(where, entry, "access_key_env"),
        _optional(where, entry, "secret_key_env"),
    )
    if (access is None) != (secret is None):
        raise SettingsError(
            f"{where}: give access_key_env and secret_key_env together, or neither (the "
            "SDK's default credentials)"
        )
    endpoint = _optional(where, entry, "endpoint_url")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"{where}.endpoint_url: {endpoint!r} is not an http(s) URL")
    return S3Spec(
        bucket=_text(where, entry, "bucket"),
        base_path=_base_path(where, entry, "base_path"),
        region=_optional(where, entry, "region"),
        endpoint_url=endpoint,
        access_key_env=access,
        access_key=_env(environ, access),
        secret_key_env=secret,
        secret_key=_env(environ, secret),
        timeout=_number(where, entry, "timeout", DEFAULT_TIMEOUT, 1, 3600, float),
    )


def _azure_blob(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> AzureBlobSpec:
    key_env = _optional(where, entry, "account_key_env")
    string_env = _optional(where, entry, "connection_string_env")
    account_url = _optional(where, entry, "account_url")
    account_name = _optional(where, entry, "account_name")
    if (key_env is None) == (string_env is None):
        raise SettingsError(
            f"{where}: give account_name with account_key_env, or connection_string_env"
        )
    if key_env is not None and (account_url is None or account_name is None):
        raise SettingsError(f"{where}: account_key_env needs account_url and account_name")
    if account_url is not None and not account_url.startswith(("http://", "https://")):
        raise SettingsError(f"{where}.account_url: {account_url!r} is not an http(s) URL")
    return AzureBlobSpec(
        container=_text(where, entry, "container"),
        base_path=_base_path(where, entry, "base_path"),
        account_url=account_url,
        account_name=account_name,
        account_key_env=key_env,
        account_key=_env(environ, key_env),
        connection_string_env=string_env,
        connection_string=_env(environ, string_env),
        timeout=_number(where, entry, "timeout", DEFAULT_TIMEOUT, 1, 3600, float),
    )


def _sftp(where: str, entry: Mapping[str, Any], common: dict[str, Any]) -> SftpSpec:
    root = _text(where, entry, "root")
    if ".." in PurePosixPath(root).parts:
        raise SettingsError(f"{where}.root: must not contain '..'")
    key_file = _optional(where, entry, "key_file")
    if key_file is None and common["password_env"] is None:
        raise SettingsError(f"{where}: give key_file or password_env")
    known = entry.get("known_hosts", True)
    if isinstance(known, bool):
        known_hosts: Path | bool | None = None if known else False
    elif isinstance(known, str) and known:
        known_hosts = Path(known)
    else:
        raise SettingsError(f"{where}.known_hosts: expected a file path, true or false")
    port = _number(where, entry, "port", 22, 1, 65535, int)
    return SftpSpec(
        root=str(PurePosixPath(root)),
        port=port,
        key_file=Path(key_file) if key_file else None,
        known_hosts=known_hosts,
        **common,
    )


def _smb(where: str, entry: Mapping[str, Any], common: dict[str, Any]) -> SmbSpec:
    share = _text(where, entry, "share").strip("\\/")
    if not share or any(char in share for char in "\\/"):
        raise SettingsError(f"{where}.share: expected a share name, not a path")
    if common["password_env"] is None:
        raise SettingsError(f"{where}.password_env: is required for an smb connection")
    root = str(entry.get("root", "")).replace("\\", "/")
    parts = [part for part in root.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SettingsError(f"{where}.root: must not contain '..'")
    port = _number(where, entry, "port", 445, 1, 65535, int)
    return SmbSpec(root="/".join(parts), port=port, share=share, **common)


def _text(where: str, entry: Mapping[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where}.{name}: is required (a non-empty string)")
    return value.strip()


def _optional(where: str, entry: Mapping[str, Any], name: str) -> str | None:
    if name not in entry:
        return None
    return _text(where, entry, name)


def _number(
    where: str,
    entry: Mapping[str, Any],
    name: str,
    default: float,
    low: float,
    high: float,
    kind: Callable[[Any], Any],
) -> Any:
    value = entry.get(name, default)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{where}.{name}: {value!r} is not a number") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise SettingsError(f"{where}.{name}: {value!r} is outside {low}..{high}")
    return number
