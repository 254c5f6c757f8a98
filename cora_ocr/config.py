"""Settings: the only reader of the environment and of the config file.

Sources, later ones winning: defaults, a TOML file (``CORA_OCR_CONFIG`` or ``--config``),
environment variables ``CORA_OCR_<KEY>`` (upper case). A bad value raises ``SettingsError``
naming its key.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cora_ocr.connections.access import Access, parse_access
from cora_ocr.connections.specs import ConnectionSpec, parse_connections
from cora_ocr.errors import SettingsError
from cora_ocr.setting_values import (
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_orphan_age,
    as_profiles,
    as_str_set,
)

DEFAULT_CONNECTION = "CoraOCRExternalConnection"
ENV_PREFIX = "CORA_OCR_"
# The GetStatus read paths a deployment may choose (`status_reads`; store/status/reader.py).
STATUS_READS = ("core", "compiled", "kept")
# The servers `cora-ocr web` may run (`web_server`; host/production.py).
WEB_SERVERS = ("gunicorn", "granian")


@dataclasses.dataclass(frozen=True)
class WindowsAuthSettings:
    """The `[windows_auth]` table: callers that sign in the IIS way, Negotiate (Kerberos) and
    NTLM, beside Basic License ID + App ID (web/windows.py). Off unless `enabled`."""

    enabled: bool = False
    # The service's keytab (made by an AD administrator with ktpass/setspn, or kadmin's ktadd).
    keytab: Path | None = None
    # The acceptor's name, HTTP/host.example.com; the realm comes from the system's Kerberos
    # configuration (KRB5_CONFIG honoured). Empty: Kerberos is off, NTLM alone.
    service_principal: str = ""
    # NT hashes, one caller a line, in the smbpasswd-like form pyspnego reads
    # (DOMAIN\user:uid:LM:NT:[U]:LCT-...); must be mode 0600. Empty: NTLM is off.
    ntlm_user_file: Path | None = None
    # Accept NTLMv1 responses too (false: NTLMv2 only, as Windows' own policy recommends).
    ntlm_v1: bool = False
    # Where Kerberos remembers the authenticators it accepted (MIT's replay cache); empty:
    # MIT's default (KRB5RCACHEDIR, else /var/tmp).
    replay_cache_dir: Path | None = None

    @property
    def kerberos(self) -> bool:
        return self.enabled and bool(self.service_principal)

    @property
    def ntlm(self) -> bool:
        return self.enabled and self.ntlm_user_file is not None


@dataclasses.dataclass(frozen=True)
class Settings:
    # Where the embedded database and the default connection live.
    data_dir: Path = Path("var")
    # SQLAlchemy URL; empty means SQLite at <data_dir>/cora_ocr.db.
    database_url: str = ""
    # Address `cora-ocr serve` listens on (loopback only by default).
    host: str = "127.0.0.1"
    port: int = 8080
    # Threads of the embedded HTTP server (`serve`).
    threads: int = 8
    # `cora-ocr web` (a stock server's worker processes behind nginx, host/production.py):
    # processes, and Python threads per process. One process more than cores: a process waiting
    # on the database leaves its core to another (bench/run, 2 cores: FileBatch on PostgreSQL
    # 475-522/s with 2, 643/s with 3). One thread: every thread that lets go of the GIL hands it
    # to another, and SQLite writers queue (docs/performance/).
    web_workers: int = dataclasses.field(default_factory=lambda: (os.cpu_count() or 1) + 1)
    web_threads: int = 1
    # The server of `cora-ocr web`: "granian" (HTTP/1.1 in Rust; measured fastest behind
    # nginx with credentials, nearly twice gunicorn's sync workers: docs/performance/) or
    # "gunicorn" (its `sync` worker, `gthread` with web_threads
    # over 1; a request unanswered in 60 s has its process killed and replaced).
    web_server: str = "granian"
    # `cora-ocr web` on this Unix socket instead of host:port (nginx on the same machine): the
    # peer on it is the proxy, believed for X-Forwarded-* as `trusted_proxies` are.
    web_socket: Path | None = None
    # Named storage locations: a local folder (a Path), or an SFTP, SMB, FTP(S), S3 or Azure Blob
    # one (connections/specs.py: KINDS); empty means {CoraOCRExternalConnection:
    # <data_dir>/connections/...}.
    connections: Mapping[str, ConnectionSpec] = dataclasses.field(default_factory=dict)
    # Which licenses may use each connection (connections/access.py), read from the
    # same `connections` tables (`licenses`, `per_license`); not a setting of its own.
    connection_access: Mapping[str, Access] = dataclasses.field(default_factory=dict)
    # Hosts (`host` or `host:port`) a REST job's callbackUrl may name; empty: no callbacks.
    callback_hosts: frozenset[str] = frozenset()
    # Peers whose X-Forwarded-Proto / X-Forwarded-Host are believed.
    trusted_proxies: frozenset[str] = frozenset()
    # Largest request body accepted (ASMX/IIS default: 4 MB); one byte more gets 413.
    max_request_bytes: int = 4 * 1024 * 1024
    # Largest document uploaded to the REST face (POST /api/v1/jobs); one byte more: 413.
    max_upload_bytes: int = 100 * 1024 * 1024
    # Slow clients (host/server.py; Apache mod_reqtimeout's model and defaults): a request's
    # headers must arrive within header_timeout seconds (a new connection's first request:
    # of connecting, TLS handshake included); its body within body_timeout of the headers'
    # end, plus one second per body_min_rate bytes received. Past it: 408, connection closed.
    header_timeout: float = 20.0
    body_timeout: float = 20.0
    body_min_rate: int = 500
    # However fast it keeps coming, a body must be complete within this many seconds of its
    # headers (a client trickling just over body_min_rate is cut here, not never).
    body_max_seconds: float = 300.0
    # Open connections from one client address per server process; past it, a new one from
    # that address is closed at once (the others' connections are not used up by one).
    max_connections_per_client: int = 100
    # A kept-alive connection with no request under way is closed after this long.
    idle_timeout: float = 15.0
    # Open connections per server process; past it, new ones wait in the listen backlog.
    max_connections: int = 1000
    # Longest TimeOut a FileBatch may ask for, in seconds (one week).
    max_timeout_seconds: int = 604_800
    # OCR profiles: name -> table of robot folders and engine options (see profiles.py);
    # empty means one "Default" profile with folders under <data_dir>/robot/Default.
    profiles: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    # A worker's claim on a job lasts this long unless renewed by its heartbeat.
    lease_seconds: float = 30.0
    # How often a job waiting for the robot's output is looked at again.
    poll_seconds: float = 1.0
    # Claims of one job (crashed workers included) before it fails with InternalError.
    max_attempts: int = 5
    # Files in the robot folders that belong to no live job are removed once this old
    # (0: never). At least a minute: a job's file is only known as live once it is placed.
    orphan_seconds: float = 3600.0
    # Jobs in a final state are deleted with their history this many days after they ended,
    # by each worker once a day (0: kept forever; `cora-ocr jobs purge` does it by hand).
    retention_days: int = 0
    # This deployment's processing region: licenses of other regions are refused.
    region: str = "local"
    # Requests without credentials: never, unless set true for a loopback-only setup.
    # None means "not said": `cora-ocr serve` on loopback then allows them, all else refuses.
    allow_anonymous: bool | None = None
    # Refuse plain HTTP (HTTPS directly, or from a trusted proxy that says so).
    # None means "not said": true, except for `cora-ocr serve` on loopback.
    require_https: bool | None = None
    # Certificate and key (PEM) to serve HTTPS directly (`cora-ocr web`).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # XML limits, checked before and after parsing (stricter than CXF's: the contract is small).
    max_xml_depth: int = 32
    max_xml_elements: int = 2_000
    max_xml_attributes: int = 2_000
    # How the processes that answer GetStatus read a job's status (store/status/reader.py):
    # "core" (SQLAlchemy Core), "compiled" (the statement compiled once, on a held DBAPI
    # connection; prepared on PostgreSQL), "kept" ("compiled", and rows kept between changes).
    status_reads: str = "kept"
    # Log lines: "text" (one line each) or "json" (one JSON object per line, every field).
    log_format: str = "text"
    # One line per HTTP request on the cora_ocr.access logger (INFO).
    access_log: bool = True
    # GET /metrics is answered to loopback peers, trusted proxies, and to a bearer of this
    # token (empty: no token accepted).
    metrics_token: str = ""
    # The jobs page (/admin/): its user name and password (empty: the page is off).
    admin_user: str = "admin"
    admin_password: str = ""
    # Negotiate (Kerberos) and NTLM callers, mapped to licenses (`cora-ocr apps
    # map-principal`): see WindowsAuthSettings above.
    windows_auth: WindowsAuthSettings = WindowsAuthSettings()

    def __post_init__(self) -> None:
        if self.allow_anonymous and not is_loopback(self.host):
            raise SettingsError(
                f"allow_anonymous: only for a loopback-only setup, but host is {self.host}"
            )
        windows = self.windows_auth
        if windows.enabled and not (windows.kerberos or windows.ntlm):
            raise SettingsError(
                "windows_auth: enabled, but neither service_principal (Kerberos) nor "
                "ntlm_user_file (NTLM) is set"
            )
        if windows.kerberos and windows.keytab is None:
            raise SettingsError("windows_auth.keytab: Kerberos needs the service's keytab")
        if self.allow_anonymous and self.trusted_proxies:
            raise SettingsError(
                "allow_anonymous: not behind a proxy (trusted_proxies is set): a request "
                "through it may come from anywhere, so it always needs credentials"
            )

    @property
    def local_setup(self) -> bool:
        return is_loopback(self.host)

    @property
    def effective_trusted_proxies(self) -> frozenset[str]:
        """The peers believed for X-Forwarded-*: `trusted_proxies`, and a peer on `web_socket`
        (a Unix socket's peer has no address: REMOTE_ADDR is empty)."""
        if self.web_socket is None:
            return self.trusted_proxies
        return self.trusted_proxies | {UNIX_PEER}

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cora_ocr.db'}"

    @property
    def effective_connections(self) -> dict[str, ConnectionSpec]:
        if self.connections:
            return dict(self.connections)
        return {DEFAULT_CONNECTION: self.data_dir / "connections" / DEFAULT_CONNECTION}

    @property
    def effective_access(self) -> dict[str, Access]:
        """Who may use each connection; the default connection gives each license a folder."""
        if self.connections:
            return {name: self.connection_access.get(name, Access()) for name in self.connections}
        return {DEFAULT_CONNECTION: Access(per_license=True)}


UNIX_PEER = ""  # REMOTE_ADDR of a request that came over a Unix socket


@functools.lru_cache(maxsize=4096)
def is_loopback(host: str) -> bool:
    """Asked for every anonymous request's peer address: cached, the answer never changes."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


WINDOWS_FIELDS = {f.name: f for f in dataclasses.fields(WindowsAuthSettings)}


def _as_windows_auth(key: str, value: Any) -> WindowsAuthSettings:
    if isinstance(value, str):  # the environment carries a JSON object
        import json

        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SettingsError(f"{key}: not a JSON object: {exc}") from None
    if not isinstance(value, Mapping):
        raise SettingsError(f"{key}: expected a table")
    values: dict[str, Any] = {}
    for name, raw in value.items():
        field = f"{key}.{name}"
        if name not in WINDOWS_FIELDS:
            raise SettingsError(f"{field}: unknown setting")
        if name in ("enabled", "ntlm_v1"):
            values[name] = as_bool(field, raw)
        elif name == "service_principal":
            values[name] = _as_service_principal(field, raw)
        else:
            values[name] = Path(str(raw)) if str(raw) else None
    return WindowsAuthSettings(**values)


def _as_service_principal(key: str, value: Any) -> str:
    """SERVICE/host (no realm: the system's Kerberos configuration gives it)."""
    text = str(value).strip()
    service, sep, host = text.partition("/")
    if text and (not sep or not service or not host or "@" in text or "/" in host):
        raise SettingsError(f"{key}: {text!r} is not SERVICE/host, e.g. HTTP/host.example.com")
    return text


def _convert(key: str, value: Any, environ: Mapping[str, str]) -> Any:
    converters: dict[str, Any] = {
        "data_dir": lambda v: Path(str(v)),
        "database_url": str,
        "host": str,
        "port": lambda v: as_int(key, v, 0, 65535),
        "threads": lambda v: as_int(key, v, 1, 1024),
        "web_workers": lambda v: as_int(key, v, 1, 256),
        "web_threads": lambda v: as_int(key, v, 1, 256),
        "web_server": lambda v: as_choice(key, v, WEB_SERVERS),
        "connections": lambda v: parse_connections(key, v, environ),
        "connection_access": lambda v: parse_access("connections", v),
        "trusted_proxies": lambda v: as_str_set(key, v),
        "callback_hosts": lambda v: as_str_set(key, v),
        "max_request_bytes": lambda v: as_int(key, v, 1024, 2**31),
        "max_upload_bytes": lambda v: as_int(key, v, 1024, 2**34),
        "header_timeout": lambda v: as_float(key, v, 1, 3600),
        "body_timeout": lambda v: as_float(key, v, 1, 3600),
        "body_min_rate": lambda v: as_int(key, v, 0, 2**31),
        "body_max_seconds": lambda v: as_float(key, v, 1, 86_400),
        "max_connections_per_client": lambda v: as_int(key, v, 1, 100_000),
        "idle_timeout": lambda v: as_float(key, v, 1, 3600),
        "max_connections": lambda v: as_int(key, v, 10, 100_000),
        "max_timeout_seconds": lambda v: as_int(key, v, 1, 604_800),
        "profiles": lambda v: as_profiles(key, v),
        "lease_seconds": lambda v: as_float(key, v, 0.1, 3600),
        "poll_seconds": lambda v: as_float(key, v, 0.0, 3600),
        "max_attempts": lambda v: as_int(key, v, 1, 1000),
        "orphan_seconds": lambda v: as_orphan_age(key, v),
        "retention_days": lambda v: as_int(key, v, 0, 36_500),
        "region": str,
        "allow_anonymous": lambda v: as_bool(key, v),
        "require_https": lambda v: as_bool(key, v),
        "web_socket": lambda v: Path(str(v)),
        "tls_cert": lambda v: Path(str(v)),
        "tls_key": lambda v: Path(str(v)),
        "max_xml_depth": lambda v: as_int(key, v, 4, 256),
        "max_xml_elements": lambda v: as_int(key, v, 10, 1_000_000),
        "max_xml_attributes": lambda v: as_int(key, v, 10, 1_000_000),
        "log_format": lambda v: as_choice(key, v, ("text", "json")),
        "status_reads": lambda v: as_choice(key, v, STATUS_READS),
        "access_log": lambda v: as_bool(key, v),
        "metrics_token": str,
        "admin_user": str,
        "admin_password": str,
        "windows_auth": lambda v: _as_windows_auth(key, v),
    }
    return converters[key](value)


# Settings read from the file and the environment (connection_access comes with connections).
FIELDS = tuple(f.name for f in dataclasses.fields(Settings) if f.name != "connection_access")


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from the file, then the environment, then explicit overrides."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = config_file or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as handle:
                raw.update(tomllib.load(handle))
        except OSError as exc:
            raise SettingsError(f"CONFIG: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"CONFIG: {path} is not valid TOML: {exc}") from None
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise SettingsError(f"{unknown[0]}: unknown setting in {path}")
    for name in FIELDS:
        env_value = environ.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            raw[name] = env_value
    raw.update({key: value for key, value in overrides.items() if value is not None})
    if "connections" in raw:
        raw["connection_access"] = raw["connections"]
    return Settings(**{key: _convert(key, value, environ) for key, value in raw.items()})
