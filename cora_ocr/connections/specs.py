"""What a connection is, as the settings say it: a local folder (`Name = "/path"`), or a table
naming a server, a share or a bucket (`[connections.Name]`, `type = "sftp"`, ...).

Each kind of connection lives in one module of this package, which holds its spec (what the
settings say of one connection), its keys, its parser and its storage; `KINDS` is the table of
them. A kind's module (and the SDK it drives: paramiko, smbprotocol, boto3, the Azure SDK) is
imported only where a connection of that kind is configured. The helpers below are what every
kind's parser shares.

Secrets never stand in the file: `password_env` (`access_key_env`, `account_key_env`,
`connection_string_env`) names an environment variable, read when the
settings are loaded. A variable that is not set is not a settings error (admin commands run
without it); the connection says so when it is used, and `cora-ocr connections check` too.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from cora_ocr.errors import SettingsError

if TYPE_CHECKING:
    from cora_ocr.connections.storage import Storage

# Each kind of connection (its `type`) and the module that holds it. A module has
#   KEYS: the keys its table may hold,
#   parse(where, entry, environ) -> its spec, or SettingsError naming the key,
#   storage(name, spec) -> its Storage, connecting on first use.
KINDS = {
    "sftp": "cora_ocr.connections.sftp",
    "smb": "cora_ocr.connections.smb",
    "ftp": "cora_ocr.connections.ftp",
    "s3": "cora_ocr.connections.s3",
    "azure_blob": "cora_ocr.connections.azure_blob",
}


class KindSpec(Protocol):
    """A connection of one of KINDS, as the settings say it."""

    @property
    def kind(self) -> str: ...


ConnectionSpec = Path | KindSpec


def kind_module(kind: str) -> ModuleType:
    return importlib.import_module(KINDS[kind])


def open_kind(name: str, spec: KindSpec) -> Storage:
    """The storage of a connection of one of KINDS (connections/__init__.py: open_storage)."""
    storage: Storage = kind_module(spec.kind).storage(name, spec)
    return storage


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


def missing_env(*pairs: tuple[str | None, str | None]) -> str | None:
    for name, value in pairs:
        if name and value is None:
            return f"environment variable {name} is not set"
    return None


_ACCESS = {"licenses", "per_license"}  # read by connections/access.py
# The keys of a server's table (remote_common), whatever its kind.
REMOTE_KEYS = frozenset(
    {"type", "host", "port", "user", "password_env", "root", "timeout", "pool_size"}
)


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


def from_text(key: str, value: str) -> Any:
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SettingsError(f"{key}: not a JSON object: {exc}") from None
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
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
        return Path(text(where, entry, "root"))
    if kind not in KINDS:
        raise SettingsError(f"{where}.type: {kind!r} is not one of local, {', '.join(KINDS)}")
    module = kind_module(kind)
    unknown = sorted(set(entry) - module.KEYS - _ACCESS)
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]}: unknown key for an {kind} connection")
    spec: KindSpec = module.parse(where, entry, environ)
    return spec


def remote_common(
    where: str, entry: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    """What a server's table says whatever its kind (RemoteSpec's fields but root and port)."""
    password_env = optional(where, entry, "password_env")
    return {
        "host": text(where, entry, "host"),
        "user": text(where, entry, "user"),
        "password_env": password_env,
        "password": environ.get(password_env) if password_env else None,
        "timeout": number(where, entry, "timeout", DEFAULT_TIMEOUT, 1, 3600, float),
        "pool_size": number(where, entry, "pool_size", DEFAULT_POOL_SIZE, 1, 64, int),
    }


def base_path(where: str, entry: Mapping[str, Any], name: str) -> str:
    """A folder or key prefix as the connection keeps it: "a/b", no leading or trailing
    slash, never `..`."""
    value = entry.get(name, "")
    if not isinstance(value, str):
        raise SettingsError(f"{where}.{name}: expected a path like 'cora/in'")
    parts = [part for part in value.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SettingsError(f"{where}.{name}: must not contain '..'")
    return "/".join(parts)


def from_env(environ: Mapping[str, str], name: str | None) -> str | None:
    return environ.get(name) if name else None


def text(where: str, entry: Mapping[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where}.{name}: is required (a non-empty string)")
    return value.strip()


def optional(where: str, entry: Mapping[str, Any], name: str) -> str | None:
    if name not in entry:
        return None
    return text(where, entry, name)


def number(
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
