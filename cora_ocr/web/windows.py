"""Callers that sign in the IIS way: `Authorization: Negotiate` (Kerberos through SPNEGO) and
`Authorization: NTLM`, accepted by pyspnego (NTLM and SPNEGO) over python-gssapi and MIT
krb5 (Kerberos: the keytab, the replay cache). No NTLM or Kerberos cryptography here: this
module picks the acceptor, keeps an unfinished handshake with its connection, and names the
caller; web/guard.py maps the name to a license (licensing.authenticate_principal).

pyspnego and MIT krb5 are configured the way their documentation says, through the process's
environment: KRB5_KTNAME (the keytab), KRB5RCACHEDIR (the replay cache), NTLM_USER_FILE (the
NT hashes) and LM_COMPAT_LEVEL (5: NTLMv2 only; 3: NTLMv1 too). A process serves one
`[windows_auth]` table.

Kerberos takes one round trip, so any process may accept it (`web` behind nginx included).
NTLM takes two on one TCP connection: only a server that hands the app its connection
(CONNECTION, `cora-ocr serve`, host/server.py) can hold the unfinished context between them,
and only there is NTLM offered."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cora_ocr.config import WindowsAuthSettings
from cora_ocr.errors import AuthenticationFailed, SettingsError

log = logging.getLogger(__name__)
CONNECTION = "cora_ocr.connection"  # environ key: this TCP connection's Connection
REPLY = "cora_ocr.auth_reply"  # environ key: the WWW-Authenticate value the answer carries
NTLM_NEGOTIATE = b"NTLMSSP\x00\x01\x00\x00\x00"  # the first of NTLM's three messages
GSS_INITIAL = 0x60  # an initial context token (RFC 2743 3.1): SPNEGO's or Kerberos's
SCHEMES = {"negotiate": "Negotiate", "ntlm": "NTLM"}


class Connection:
    """What one TCP connection keeps between its requests, dropped with it: a handshake under
    way (its scheme and pyspnego context), and the door's verdict on the request it judged
    from its headers (its token and Accepted), for the app to use instead of accepting the
    same token again."""

    __slots__ = ("judged", "pending")

    def __init__(self) -> None:
        self.pending: tuple[str, Any] | None = None
        self.judged: tuple[str, Accepted] | None = None


@dataclass(frozen=True)
class Accepted:
    principal: str  # user@REALM (Kerberos) or DOMAIN\user (NTLM), as the acceptor names it
    reply: str | None  # "Negotiate <token>": Kerberos's mutual authentication, for the answer


class Challenge(AuthenticationFailed):
    """HTTP 401 that is a handshake's next step, not a refusal: the client answers it on the
    same connection."""

    def __init__(self, scheme: str, token: bytes) -> None:
        super().__init__("authentication continues", "handshake")
        self.headers = (("WWW-Authenticate", f"{scheme} {base64.b64encode(token).decode()}"),)


class WindowsAuth:
    """The acceptor of one process: configured once from the settings (refusing to start on
    a problem, as `cora-ocr windows-auth check` reports them), then asked per request."""

    def __init__(self, settings: WindowsAuthSettings) -> None:
        problems = check(settings)
        if problems:
            raise SettingsError(f"windows_auth: {problems[0]}")
        self.settings = settings
        self.service, _, self.host = settings.service_principal.partition("/")
        # The key of the door's sealed verdicts (seal): made from the service's keytab, which
        # the door and every web process read and a client never has.
        keytab = settings.keytab.read_bytes() if settings.kerberos and settings.keytab else b""
        self._seal_key = hashlib.sha256(b"cora-ocr door verdict\0" + keytab).digest()
        configure_environment(settings)
        import spnego  # noqa: F401  (imported here: only a process that accepts loads it)

    def offers(self, environ: dict[str, Any]) -> list[str]:
        """The schemes a 401 offers here: Negotiate where Kerberos is on (or NTLM inside it
        where the connection can hold a handshake), NTLM where it can."""
        bound = environ.get(CONNECTION) is not None and self.settings.ntlm
        offered = ["Negotiate"] if self.settings.kerberos or bound else []
        return [*offered, "NTLM"] if bound else offered

    def accept(self, environ: dict[str, Any], scheme: str, text: str) -> Accepted:
        """The caller named by this request's token; Challenge for a handshake's next step,
        AuthenticationFailed (logged) for anything else."""
        scheme = scheme.lower()
        try:
            token = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            token = b""
        if not token:
            raise self._refused(environ, f"{SCHEMES[scheme]}: the token is not base64")
        connection: Connection | None = environ.get(CONNECTION)
        context = self._context(environ, scheme, token, connection)
        try:
            out = context.step(token)
        except Exception as exc:  # pyspnego's or GSSAPI's refusal, whatever its type
            if connection is not None:
                connection.pending = None
            reason = f"{SCHEMES[scheme]} token refused: {_reason(exc)}"
            raise self._refused(environ, reason) from None
        if context.complete:
            if connection is not None:
                connection.pending = None
            principal = str(context.client_principal or "")
            if not principal:
                raise self._refused(environ, f"{SCHEMES[scheme]}: no caller named")
            reply = None
            if out and scheme != "ntlm":
                reply = f"Negotiate {base64.b64encode(out).decode()}"
            return Accepted(principal, reply)
        if connection is None or out is None:
            reason = f"{SCHEMES[scheme]}: a second round trip needs one connection"
            raise self._refused(environ, reason)
        connection.pending = (scheme, context)
        raise Challenge(SCHEMES[scheme], out)

    def seal(self, principal: str, token: str) -> str:
        """The door's verdict on a token, as the app can check it came from the door: who it
        named, and an HMAC of that and the token under the keytab-made key."""
        text = f"{principal}\n{token.strip()}".encode()
        return hmac.new(self._seal_key, text, hashlib.sha256).hexdigest() + " " + principal

    def opened(self, sealed: str, token: str) -> Accepted | None:
        """The door's verdict on this token, if `sealed` is one (seal); None otherwise. Only
        Kerberos has a door that seals (nginx's auth_request) and a keytab to key it: without
        one, the key would be known to anyone with our source, so nothing sealed is believed."""
        _mac, _, principal = sealed.partition(" ")
        if not self.settings.kerberos or not principal:
            return None
        if not hmac.compare_digest(self.seal(principal, token), sealed):
            return None
        return Accepted(principal, None)

    def _context(
        self, environ: dict[str, Any], scheme: str, token: bytes, connection: Connection | None
    ) -> Any:
        """A new acceptor for a handshake's first message; the connection's own for a later
        one (refused on any other connection: NTLM is bound to the one it began on)."""
        import spnego

        initial = token.startswith(NTLM_NEGOTIATE) or token[0] == GSS_INITIAL
        if not initial:
            pending = connection.pending if connection is not None else None
            if pending is None or pending[0] != scheme:
                raise self._refused(
                    environ,
                    f"{SCHEMES[scheme]}: a handshake's later message without its beginning "
                    "on this connection",
                )
            return pending[1]
        ntlm = scheme == "ntlm" or token.startswith(NTLM_NEGOTIATE)
        if ntlm and not self.settings.ntlm:
            raise self._refused(environ, "NTLM is not enabled (windows_auth.ntlm_user_file)")
        if ntlm and connection is None:
            raise self._refused(
                environ, "NTLM needs a server that keeps the connection (cora-ocr serve)"
            )
        if not ntlm and not self.settings.kerberos:
            raise self._refused(environ, "Kerberos is not enabled (windows_auth.service_principal)")
        if ntlm:
            return spnego.server(protocol="ntlm")
        return spnego.server(
            hostname=self.host,
            service=self.service,
            protocol="negotiate",
            credentials=spnego.CredentialCache(username=f"{self.service}@{self.host}"),
        )

    def _refused(self, environ: dict[str, Any], reason: str) -> AuthenticationFailed:
        log.warning(
            "authentication refused: %s",
            reason,
            extra={"security": "auth", "peer": environ.get("REMOTE_ADDR"), "reason": reason},
        )
        return AuthenticationFailed(
            "the Windows credentials were not accepted", reason.partition(":")[0]
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, AttributeError):
        # pyspnego reads the context's flags after GSSAPI refused the token without raising
        # (a replayed, expired or misdirected ticket): what MIT said is not passed on.
        return "Kerberos refused the ticket (replayed, expired or for another service)"
    return text[:200]


def configure_environment(settings: WindowsAuthSettings) -> None:
    """The process's environment as MIT krb5 and pyspnego read it."""
    if settings.kerberos and settings.keytab is not None:
        os.environ["KRB5_KTNAME"] = f"FILE:{settings.keytab.resolve()}"
    if settings.replay_cache_dir is not None:
        os.environ["KRB5RCACHEDIR"] = str(settings.replay_cache_dir.resolve())
    if settings.ntlm and settings.ntlm_user_file is not None:
        os.environ["NTLM_USER_FILE"] = str(settings.ntlm_user_file.resolve())
        os.environ["LM_COMPAT_LEVEL"] = "3" if settings.ntlm_v1 else "5"


# --- diagnostics (`cora-ocr windows-auth check`, and every start) ----------------------------
def check(settings: WindowsAuthSettings) -> list[str]:
    """Every problem with the table, each naming its key; no secret is printed."""
    if not settings.enabled:
        return []
    problems: list[str] = []
    if settings.kerberos:
        problems += _keytab_problems(settings)
    if settings.ntlm and settings.ntlm_user_file is not None:
        problems += user_file_problems(settings.ntlm_user_file)
    if settings.replay_cache_dir is not None and not settings.replay_cache_dir.is_dir():
        problems.append(f"replay_cache_dir: {settings.replay_cache_dir} is not a folder")
    return problems


def _keytab_problems(settings: WindowsAuthSettings) -> list[str]:
    keytab = settings.keytab
    if keytab is None or not keytab.is_file():
        return [f"keytab: {keytab} is not a file"]
    try:
        import gssapi

        service, _, host = settings.service_principal.partition("/")
        name = gssapi.Name(f"{service}@{host}", gssapi.NameType.hostbased_service)
        store: dict[bytes | str, bytes | str] = {b"keytab": f"FILE:{keytab.resolve()}".encode()}
        gssapi.Credentials(name=name, usage="accept", store=store).inquire()
    except ImportError:
        return ["keytab: python-gssapi is not installed (pip install gssapi)"]
    except Exception as exc:
        return [f"keytab: {keytab} holds no key for {settings.service_principal}: {_reason(exc)}"]
    return []


def user_file_problems(path: Path) -> list[str]:
    """The NTLM user file: present, readable by its owner only, every line in the form
    DOMAIN\\user:uid:LM:NT:flags:LCT-... (pyspnego's NTLM_USER_FILE, smbpasswd's form)."""
    key = "ntlm_user_file"
    try:
        mode = path.stat().st_mode
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{key}: cannot read {path}: {exc}"]
    problems = []
    if stat.S_IMODE(mode) & 0o077:
        problems.append(f"{key}: {path} is mode {stat.S_IMODE(mode):04o}; it must be 0600")
    entries = 0
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(":")
        hashes_ok = len(fields) == 6 and all(_is_hash(value) for value in fields[2:4])
        if not hashes_ok or not fields[0]:
            problems.append(f"{key}: line {number} is not USER:UID:LM:NT:FLAGS:LCT")
        entries += 1
    if not entries:
        problems.append(f"{key}: {path} names no user")
    return problems


def _is_hash(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value)
