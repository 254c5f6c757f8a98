"""A real MIT Kerberos realm on loopback (k5test, as python-gssapi's own tests make one: a
KDC of Debian's krb5-kdc in a folder of its own), with the service's `HTTP/localhost` keytab,
a user with a ticket, and an NTLM user file: what a Windows site's callers and IIS have."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE = "HTTP/localhost"
USER, PASSWORD = "alice", "alice-Secret-1"  # Kerberos
NTLM_USER, NTLM_PASSWORD = "CORP\\bob", "bob-Secret-1"  # NTLM, in the user file


@dataclass
class Realm:
    realm: Any  # k5test.K5Realm
    keytab: Path
    user_file: Path
    replay_dir: Path

    @property
    def name(self) -> str:
        return str(self.realm.realm)

    @property
    def user(self) -> str:
        return f"{USER}@{self.name}"

    @property
    def env(self) -> dict[str, str]:
        """The environment a client or the service runs in: the realm's krb5.conf and the
        user's credential cache (the service's keytab comes from its own settings)."""
        return {key: value for key, value in self.realm.env.items() if key != "KRB5_KTNAME"}

    def windows_auth(self, **overrides: object) -> dict[str, object]:
        table: dict[str, object] = {
            "enabled": True,
            "keytab": str(self.keytab),
            "service_principal": SERVICE,
            "ntlm_user_file": str(self.user_file),
            "replay_cache_dir": str(self.replay_dir),
        }
        return {**table, **overrides}

    def windows_auth_env(self, **overrides: object) -> dict[str, str]:
        return {**self.env, "CORA_OCR_WINDOWS_AUTH": json.dumps(self.windows_auth(**overrides))}

    def kerberos_token(self, target: str = "HTTP@localhost") -> str:
        """A fresh SPNEGO token of the user for `target`, as a client's first leg sends it."""
        import gssapi

        with applied(self.env):
            context = gssapi.SecurityContext(
                name=gssapi.Name(target, gssapi.NameType.hostbased_service),
                usage="initiate",
                mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"),  # SPNEGO
            )
            return base64.b64encode(context.step()).decode()


def nt_hash(password: str) -> str:
    """MD4 of the UTF-16LE password, by pyspnego's own function (hashlib's MD4 is gone from
    OpenSSL 3's default provider)."""
    from spnego._ntlm_raw.crypto import ntowfv1

    return str(ntowfv1(password).hex().upper())


@contextlib.contextmanager
def realm(folder: Path) -> Iterator[Realm]:
    import k5test

    kdc = k5test.K5Realm(start_kadmind=False, get_creds=False)
    try:
        kdc.addprinc(f"{USER}@{kdc.realm}", PASSWORD)
        kdc.addprinc(f"{SERVICE}@{kdc.realm}")
        kdc.addprinc(f"HTTP/otherhost@{kdc.realm}")  # a service this one is not
        keytab = folder / "http.keytab"
        kdc.run_kadminl(f"ktadd -k {keytab} {SERVICE}@{kdc.realm}")
        kdc.kinit(f"{USER}@{kdc.realm}", PASSWORD)
        user_file = folder / "ntlm.users"
        user_file.write_text(
            f"{NTLM_USER}:1000:{'0' * 32}:{nt_hash(NTLM_PASSWORD)}:[U]:LCT-00000000\n"
        )
        user_file.chmod(0o600)
        replay = folder / "rcache"
        replay.mkdir()
        yield Realm(kdc, keytab, user_file, replay)
    finally:
        kdc.stop()


@contextlib.contextmanager
def applied(env: dict[str, str]) -> Iterator[None]:
    """`env` in this process's environment for the block (GSSAPI reads it per call)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
