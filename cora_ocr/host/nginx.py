"""`cora-ocr nginx-config`: the production front door, nginx's configuration for the current
settings. nginx takes TLS, slow clients, body sizes per path, connections per client and
uploads refused from their headers; the `web` processes behind it see only whole requests.

Every limit is copied from the settings, so the file is made again when they change (the
deploy folder's nginx.conf is this module's output for deploy/cora-ocr.toml, and a test says
so)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cora_ocr.config import Settings
from cora_ocr.errors import SettingsError
from cora_ocr.host.door import CHALLENGE_HEADER, DOOR_PATH, REFUSAL_HEADER, UPLOAD_PATH
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.web.guard import CALLER_HEADER, REPLY_HEADER

INTERNAL_DOOR = "/.cora-ocr-door"  # nginx's own name for the door: clients cannot reach it
# The most an answer may take once nginx has handed the request on: gunicorn's `timeout` kills
# a web process silent this long (host/production.py), nginx gives up a little later.
UPSTREAM_SECONDS = 65


def _upstream(header: str) -> str:
    return "$upstream_http_" + header.lower().replace("-", "_")


REFUSAL_VARIABLE = _upstream(REFUSAL_HEADER)
NGINX_MAX_CONN = 65535  # the most limit_conn takes
# TLS 1.2's suites of Mozilla's "intermediate" profile (TLS 1.3 chooses its own).
CIPHERS = ":".join(
    f"ECDHE-{key}-{cipher}"
    for cipher in ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "CHACHA20-POLY1305")
    for key in ("ECDSA", "RSA")
)


@dataclass(frozen=True)
class NginxOptions:
    listen: str = ""  # HOST:PORT or PORT; default: 443 with TLS, 80 without
    tls_cert: Path | None = None
    tls_key: Path | None = None
    http_listen: str = ""  # with TLS, plain HTTP's HOST:PORT or PORT; default: port 80
    upstream: str = ""  # HOST:PORT or unix:PATH; default: the settings' host and port
    user: str = "www-data"  # Debian's
    run_dir: Path | None = None  # pid, logs, buffered bodies; default: Debian's places
    source: str = "the environment"  # where the settings came from, for the header

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def render(settings: Settings, options: NginxOptions) -> str:
    if bool(options.tls_cert) != bool(options.tls_key):
        raise SettingsError("--tls-cert: give both --tls-cert and --tls-key, or neither")
    if not options.tls and settings.require_https is not False:
        raise SettingsError(
            "require_https: the service refuses plain HTTP; give --tls-cert and --tls-key, "
            "or set require_https = false (only where nothing but loopback reaches nginx)"
        )
    listen = _listen(options.listen or ("443" if options.tls else "80"))
    upstream = options.upstream or (
        f"unix:{settings.web_socket}"
        if settings.web_socket
        else _address(settings.host, settings.port)
    )
    if not upstream.startswith("unix:") and ":" not in upstream:
        raise SettingsError(f"--upstream: {upstream!r} is not HOST:PORT or unix:PATH")
    run = options.run_dir
    places = {
        "pid": run / "nginx.pid" if run else Path("/run/nginx.pid"),
        "error_log": run / "error.log" if run else Path("/var/log/nginx/error.log"),
        "access_log": run / "access.log" if run else Path("/var/log/nginx/cora-ocr.access.log"),
        "client_body": run / "body" if run else Path("/var/lib/nginx/body"),
        "proxy": run / "proxy" if run else Path("/var/lib/nginx/proxy"),
    }
    trusted = (
        ", ".join(
            sorted(settings.trusted_proxies)
            + (["the peer on web_socket"] if settings.web_socket else [])
        )
        or "(none set: ignored)"
    )
    scheme = "https" if options.tls else "http"
    headers = _forwarded_headers() + _caller_headers('""', '""')
    tls_server = ""
    plain_server = ""
    if options.tls:
        tls_server = f"""
        ssl_certificate {options.tls_cert};
        ssl_certificate_key {options.tls_key};
        # TLS 1.2 and 1.3 only (Mozilla's "intermediate" profile).
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {CIPHERS};
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:cora_ocr_tls:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;
"""
        if settings.require_https is not False:
            http_answer = """\
        # require_https: plain HTTP carries nothing. A browser asking for a page is sent to
        # HTTPS; anything else (a SOAP call, an upload) is refused, not redirected: its
        # credentials have already crossed the network in the clear.
        location / {
            if ($request_method !~ ^(GET|HEAD)$) {
                return 403 "HTTPS is required: this service refuses plain HTTP\\n";
            }
            return 301 https://$host$request_uri;
        }"""
        else:
            http_answer = (
                """        # require_https = false: plain HTTP is served as well."""
                + _locations(settings, headers)
            )
        plain_server = f"""
    # Port 80.
    server {{
        listen {_listen(options.http_listen) if options.http_listen else _listen_plain(listen)};
        server_name _;
{http_answer}
    }}
"""
    return f"""\
# nginx in front of cora_ocr's `web` processes, made by `cora-ocr nginx-config` from the
# settings in {options.source}. Listens on {listen} ({scheme}); hands whole requests to {upstream}.
#
# Install: as /etc/nginx/nginx.conf (or `nginx -c` this file), `nginx -t`, then reload.
# The limits below are copied from cora_ocr's settings: make the file again when they change.
# The app believes X-Forwarded-* from its trusted_proxies only: {trusted}.

user {options.user};
worker_processes auto;
worker_rlimit_nofile 65536;
pid {places["pid"]};
error_log {places["error_log"]} warn;

events {{
    # Each request handed on holds two connections: the client's and the upstream's.
    worker_connections 16384;
}}

http {{
    server_tokens off;
    default_type application/octet-stream;
    access_log {places["access_log"]};
    client_body_temp_path {places["client_body"]};
    proxy_temp_path {places["proxy"]};

    # --- Slow clients wait here, never in a web process ---------------------------------------
    # Headers within header_timeout; a body with no gap longer than body_timeout between two
    # reads (nginx has no deadline for a whole body: one that keeps trickling is bounded by
    # its size below and by the connections its client may hold, and never reaches the app);
    # an answer taken with no gap longer than body_timeout; an idle kept-alive connection
    # closed after idle_timeout.
    client_header_timeout {_seconds(settings.header_timeout)};
    client_body_timeout {_seconds(settings.body_timeout)};
    send_timeout {_seconds(settings.body_timeout)};
    keepalive_timeout {_seconds(settings.idle_timeout)};
    reset_timedout_connection on;

    # --- Connections per client address (max_connections_per_client) -------------------------
    # Counted while a request is under way; a client past it gets 429.
    limit_conn_zone $binary_remote_addr zone=cora_ocr_clients:10m;
    limit_conn cora_ocr_clients {min(settings.max_connections_per_client, NGINX_MAX_CONN)};
    limit_conn_status 429;

    # --- Whole requests only: the body is read here before a web process sees it -------------
    proxy_request_buffering on;
    proxy_buffering on;
    client_body_buffer_size 128k;   # larger bodies wait in a file under client_body_temp_path
    proxy_connect_timeout 5s;
    proxy_send_timeout {UPSTREAM_SECONDS}s;
    proxy_read_timeout {UPSTREAM_SECONDS}s;   # the web processes' own deadline is 60 s

    # HTTP/1.1 to the web processes, a connection per request: none is kept idle between
    # requests, since a web process that is being replaced (a reload) closes its idle ones and
    # a SOAP POST nginx has just sent on one would be lost (502; nginx never sends a POST twice).
    # Measured: kept connections lost 1 call in 6,749 during a reload, for 14-23% more req/s.
    upstream cora_ocr_web {{
        server {upstream};
    }}
{plain_server}
    server {{
        listen {listen}{" ssl" if options.tls else ""};
        server_name _;
{tls_server}{_locations(settings, headers)}
    }}
}}
"""


def _locations(settings: Settings, headers: str) -> str:
    upload_headers, door_verdict = headers, ""
    if settings.windows_auth.kerberos:
        # Negotiate: the door accepts the upload's Kerberos token from its headers; the app
        # must not accept it again (a replay), so nginx hands it the door's verdict. NTLM is
        # not offered here: nginx does not keep a client's connection to one upstream one.
        upload_headers = _forwarded_headers() + _caller_headers(
            "$cora_ocr_caller", "$cora_ocr_reply"
        )
        door_verdict = f"""
            auth_request_set $cora_ocr_caller {_upstream(CALLER_HEADER)};
            auth_request_set $cora_ocr_reply {_upstream(REPLY_HEADER)};"""
    return f"""
        # Every request but the ones below: max_request_bytes (ASMX's 4 MB), 413 from the
        # headers when larger.
        location / {{
            client_max_body_size {settings.max_request_bytes};
            proxy_pass http://cora_ocr_web;
{headers}
        }}

        # The SOAP path: the same limit, said here so that it stays when the default changes.
        location = {SERVICE_PATH} {{
            client_max_body_size {settings.max_request_bytes};
            proxy_pass http://cora_ocr_web;
{headers}
        }}

        # Document uploads: max_upload_bytes, and refused from their headers when the
        # credentials are missing or wrong (or the transport is refused): nginx asks the app's
        # door first and reads no body for a refusal, which is the app's own answer (a problem
        # document) as the door gave it.
        location = {UPLOAD_PATH} {{
            client_max_body_size {settings.max_upload_bytes};
            auth_request {INTERNAL_DOOR};
            auth_request_set $cora_ocr_refusal {REFUSAL_VARIABLE};
            auth_request_set $cora_ocr_challenge {_upstream(CHALLENGE_HEADER)};{door_verdict}
            error_page 401 = @refused401;
            error_page 403 = @refused403;
            proxy_pass http://cora_ocr_web;
{upload_headers}
        }}

        location = {INTERNAL_DOOR} {{
            internal;
            client_max_body_size {settings.max_upload_bytes};
            proxy_pass http://cora_ocr_web{DOOR_PATH};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
{headers}
        }}

        location @refused401 {{
            default_type application/problem+json;
            add_header WWW-Authenticate $cora_ocr_challenge always;
            return 401 $cora_ocr_refusal;
        }}

        location @refused403 {{
            default_type application/problem+json;
            return 403 $cora_ocr_refusal;
        }}

        # The door is nginx's to ask, not a client's.
        location = {DOOR_PATH} {{
            return 404;
        }}"""


def _forwarded_headers() -> str:
    """What the app is told of the client: set, never appended (a client's own X-Forwarded-*
    are replaced; the app reads one hop, web/proxy.py). Repeated in each location: nginx
    drops the outer level's proxy_set_header where a location has one of its own."""
    lines = [
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
        'proxy_set_header X-Forwarded-Port "";',
        'proxy_set_header X-Forwarded-Prefix "";',
        'proxy_set_header Forwarded "";',
    ]
    return "\n".join(" " * 12 + line for line in lines)


def _caller_headers(caller: str, reply: str) -> str:
    """The door's verdict on a Windows caller: set by nginx alone, never a client's."""
    lines = [
        f"proxy_set_header {CALLER_HEADER} {caller};",
        f"proxy_set_header {REPLY_HEADER} {reply};",
    ]
    return "\n" + "\n".join(" " * 12 + line for line in lines)


def _seconds(value: float) -> str:
    return f"{value:g}s" if value == int(value) else f"{int(value * 1000)}ms"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen(value: str) -> str:
    _host, sep, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"--listen: {value!r} is not HOST:PORT or PORT")
    return value if sep else port


def _listen_plain(listen: str) -> str:
    host, sep, _port = listen.rpartition(":")
    return f"{host}:80" if sep else "80"
