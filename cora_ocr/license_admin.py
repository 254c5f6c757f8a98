"""The administration of licenses and apps (the command line's `licenses` and `apps`, the REST
licenses endpoint): made, changed, suspended, their Windows principals mapped; each change
seen by every process within Licensing's cache_seconds, at once in this one. Licensing
(licensing.py) is this plus the request path."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from cora_ocr.errors import CoraError
from cora_ocr.statuses import Priority
from cora_ocr.store.license_store import LicenseStore
from cora_ocr.store.records import AppRecord, LicenseRecord, UsageRow


def digest(app_id: str) -> str:
    return hashlib.sha256(app_id.encode("utf-8")).hexdigest()


def _matching(
    pairs: list[tuple[LicenseRecord, AppRecord]], wanted: str
) -> tuple[LicenseRecord, AppRecord] | None:
    # Every app of the license is compared, so timing does not reveal which one matched.
    matches = [(lic, app) for lic, app in pairs if hmac.compare_digest(app.app_id_hash, wanted)]
    return matches[0] if matches else None


def principal_key(principal: str) -> str:
    """A Windows principal as mappings keep it: `user@REALM` (Kerberos) or `DOMAIN\\user`
    (NTLM) with the user part in lower case (Windows compares user names without case; a
    Kerberos realm is case-sensitive and an NTLM domain is not: the domain in upper case)."""
    text = principal.strip()
    domain, backslash, user = text.partition("\\")
    if backslash:
        if not domain or not user:
            raise CoraError(f"PRINCIPAL: {principal!r} is not DOMAIN\\user")
        return f"{domain.upper()}\\{user.lower()}"
    user, at, realm = text.rpartition("@")
    if not at or not user or not realm:
        raise CoraError(f"PRINCIPAL: {principal!r} is not user@REALM or DOMAIN\\user")
    return f"{user.lower()}@{realm}"


class LicenseAdministration:
    """What an operator does to licenses and apps (Licensing's second half)."""

    store: LicenseStore
    region: str

    def _forget(self) -> None:
        """Forget the cached verdicts (Licensing's request path keeps them)."""
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def create_license(
        self,
        name: str,
        region: str | None = None,
        request_quota: int = 10_000,
        page_quota: int = 1_000,
        expires_at: dt.datetime | None = None,
        monthly_pages: int = 0,
        max_priority: Priority = Priority.high,
    ) -> str:
        license_id = secrets.token_hex(8)
        self.store.add_license(
            license_id=license_id,
            name=name,
            region=region or self.region,
            suspended=False,
            expires_at=expires_at,
            hourly_request_quota=request_quota,
            hourly_page_quota=page_quota,
            callback_secret=secrets.token_hex(32),
            monthly_page_quota=monthly_pages,
            max_priority=int(max_priority),
        )
        return license_id

    def set_monthly_pages(self, license_id: str, pages: int) -> None:
        """A license's monthly page quota (0: none); jobs it throttled are looked at again."""
        if pages < 0:
            raise CoraError(f"--monthly-pages: {pages} is not a number of pages (0: none)")
        self._forget()
        if not self.store.set_monthly_pages(license_id, pages):
            raise CoraError(f"no license {license_id}")
        self._forget()

    def set_max_priority(self, license_id: str, priority: Priority) -> None:
        """The highest priority the license's jobs may ask for from now on."""
        self._forget()
        if not self.store.set_max_priority(license_id, priority):
            raise CoraError(f"no license {license_id}")
        self._forget()

    def callback_secret(self, license_id: str, rotate: bool = False) -> str:
        """The key the license's callbacks are signed with; with `rotate`, a new one (the
        old one signs nothing from then on)."""
        if rotate and not self.store.set_callback_secret(license_id, secrets.token_hex(32)):
            raise CoraError(f"no license {license_id}")
        secret = self._license(license_id).callback_secret
        assert secret is not None  # every license has one (migration 0013)
        return secret

    def _license(self, license_id: str) -> LicenseRecord:
        found = self.store.find(license_id)
        if found is None:
            raise CoraError(f"no license {license_id}")
        return found

    def create_app(self, license_id: str, name: str) -> str:
        """A new App ID for a license; shown once, stored only as a digest. It never starts
        with "-", which a command line would take for an option."""
        app_id = secrets.token_urlsafe(24)
        while app_id.startswith("-"):
            app_id = secrets.token_urlsafe(24)
        license_pk = self._license(license_id).id
        self.store.add_app(license_pk, digest(app_id), app_id[-4:], name)
        return app_id

    def map_principal(self, license_id: str, app_id: str, principal: str) -> str:
        """Map a Windows principal to a license's app (its App ID); the key it is kept as."""
        key = principal_key(principal)
        match = _matching(self.store.credentials(license_id), digest(app_id))
        if match is None:
            raise CoraError(f"APP_ID: no such app for license {license_id}")
        self._forget()
        self.store.map_principal(key, match[0].id, match[1].id)
        self._forget()
        return key

    def unmap_principal(self, principal: str) -> None:
        key = principal_key(principal)
        self._forget()
        if not self.store.unmap_principal(key):
            raise CoraError(f"PRINCIPAL: {key} is not mapped")
        self._forget()

    def principals(self, license_id: str | None = None) -> list[tuple[str, str, str]]:
        """(principal, License ID, app name), every mapping or one license's."""
        license_pk = None if license_id is None else self._license(license_id).id
        return self.store.principals(license_pk)

    def set_license_suspended(self, license_id: str, suspended: bool) -> None:
        """Suspend (or reinstate) a license. Its throttled jobs are made due at once, so that
        the workers stop them now rather than when their hour renews."""
        self._forget()
        if not self.store.set_suspended(license_id, suspended):
            raise CoraError(f"no license {license_id}")
        self._forget()  # again: a request may have cached the old verdict meanwhile

    def set_app_enabled(self, license_id: str, app_id: str, enabled: bool) -> None:
        self._forget()
        match = _matching(self.store.credentials(license_id), digest(app_id))
        if match is None:
            raise CoraError(f"no such app for license {license_id}")
        self.store.set_app_enabled(match[0].id, match[1].id, enabled)
        self._forget()  # again: a request may have cached the old verdict meanwhile

    def licenses(self) -> list[LicenseRecord]:
        return self.store.all()

    def apps(self, license_id: str) -> list[AppRecord]:
        return self.store.apps(self._license(license_id).id)

    def usage(self, license_id: str, since: dt.datetime) -> list[UsageRow]:
        return self.store.usage_since(self._license(license_id).id, since)
