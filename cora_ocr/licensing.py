"""Licenses and apps: who may call, from which region, how much per hour.

Credentials are HTTP Basic: user = License ID, password = App ID. App IDs are stored as
SHA-256 digests and compared in constant time. A Windows caller (Negotiate or NTLM,
web/windows.py) is mapped to one license's app by an operator and is then the same caller as
that app's Basic credentials.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from cora_ocr.errors import AuthenticationFailed, CoraError, QuotaExceeded
from cora_ocr.statuses import Priority
from cora_ocr.store.licenses import LicenseStore
from cora_ocr.store.licensing import hour_of
from cora_ocr.store.records import AppRecord, LicenseRecord, UsageRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    license_pk: int
    app_pk: int
    license_id: str
    app_name: str
    hourly_request_quota: int
    hourly_page_quota: int
    expires_at: dt.datetime | None = None
    region: str = ""
    monthly_page_quota: int = 0  # 0: none
    max_priority: Priority = Priority.high  # the highest its jobs may ask for


def may_see(principal: Principal | None, owner_pk: int | None) -> bool:
    """Whether a caller may see a job owned by license `owner_pk` (None: made without
    credentials). A licensed caller sees its own license's jobs and nothing else, not even a
    job without an owner; an anonymous caller (the local setup, which has no licenses to
    keep apart) sees every job."""
    return principal is None or owner_pk == principal.license_pk


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


def seconds_to_next_hour(now: dt.datetime) -> int:
    return max(1, int((hour_of(now) + dt.timedelta(hours=1) - now).total_seconds() + 0.999))


NOT_MAPPED = "windows principal not mapped"


def _verdict(
    match: tuple[LicenseRecord, AppRecord] | None, unknown: str = "unknown license or app"
) -> Principal | str:
    """The caller a license's app is, or why it may not call (expiry is judged per request)."""
    if match is None:
        return unknown
    lic, app = match
    if lic.suspended:
        return "license suspended"
    if not app.enabled:
        return "app disabled"
    return Principal(
        lic.id,
        app.id,
        lic.license_id,
        app.name,
        lic.hourly_request_quota,
        lic.hourly_page_quota,
        lic.expires_at,
        lic.region,
        lic.monthly_page_quota,
        Priority(lic.max_priority),
    )


class Licensing:
    def __init__(
        self,
        store: LicenseStore,
        region: str,
        cache_seconds: float = 5.0,
        flush_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.region = region
        self.cache_seconds = cache_seconds
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._verdicts: dict[tuple[str, str], tuple[float, Principal | str]] = {}
        self._pending: Counter[tuple[int, int, dt.datetime]] = Counter()
        self._pending_by_license: Counter[tuple[int, dt.datetime]] = Counter()
        self._totals: dict[tuple[int, dt.datetime], int] = {}
        self._synced_at = time.monotonic()

    # --- the request path -----------------------------------------------------------------
    def authenticate(
        self, license_id: str, app_id: str, now: dt.datetime, any_region: bool = False
    ) -> Principal:
        """The caller, or AuthenticationFailed with a reason that is logged, not shown. A
        license of another region is refused unless `any_region` (the REST licenses
        endpoint answers in every region).

        Verdicts (refusals too) are cached per process for `cache_seconds`: a suspension or
        a disabled app takes effect within that time everywhere, at once in this process.
        """
        wanted = digest(app_id)
        verdict = self._cached(
            (license_id, wanted),
            lambda: _verdict(_matching(self.store.credentials(license_id), wanted)),
        )
        return self._judged(verdict, now, any_region, license_id)

    def authenticate_principal(
        self, principal: str, now: dt.datetime, any_region: bool = False
    ) -> Principal:
        """The app an authenticated Windows principal is mapped to, judged as that app's
        Basic credentials are (suspension, a disabled app, expiry, region: the same answer);
        an unmapped principal is refused, named in the log, never in the answer."""
        key = principal_key(principal)
        verdict = self._cached(
            ("", key), lambda: _verdict(self.store.principal_credentials(key), NOT_MAPPED)
        )
        if verdict == NOT_MAPPED:
            log.warning(
                "authentication refused: windows principal %s is not mapped to a license",
                key,
                extra={"security": "auth", "principal": key, "reason": NOT_MAPPED},
            )
            raise AuthenticationFailed(
                "the Windows account is not allowed to call this service", NOT_MAPPED
            )
        license_id = verdict.license_id if isinstance(verdict, Principal) else ""
        return self._judged(verdict, now, any_region, license_id, principal=key)

    def _cached(
        self, key: tuple[str, str], lookup: Callable[[], Principal | str]
    ) -> Principal | str:
        with self._lock:
            cached = self._verdicts.get(key)
        if cached is not None and time.monotonic() - cached[0] <= self.cache_seconds:
            return cached[1]
        verdict = lookup()
        with self._lock:
            if len(self._verdicts) > 10_000:  # a flood of made-up credentials
                self._verdicts.clear()
            self._verdicts[key] = (time.monotonic(), verdict)
        return verdict

    def _judged(
        self,
        verdict: Principal | str,
        now: dt.datetime,
        any_region: bool,
        license_id: str,
        principal: str = "",
    ) -> Principal:
        """The caller, or the refusal: the stored verdict, then expiry and region (checked
        per request)."""
        if isinstance(verdict, str):
            return self._refuse(verdict, license_id, principal)
        if verdict.expires_at is not None and verdict.expires_at <= now:
            return self._refuse("license expired", license_id, principal)
        if verdict.region != self.region and not any_region:
            reason = f"license of region {verdict.region}, this is {self.region}"
            return self._refuse(reason, license_id, principal)
        return verdict

    def _refuse(self, reason: str, license_id: str, principal: str = "") -> Principal:
        extra = {"security": "auth", "license_id": license_id[:64], "reason": reason}
        if principal:
            extra["principal"] = principal
        log.warning("authentication refused: %s", reason, extra=extra)
        cause = "other region" if reason.startswith("license of region") else reason
        raise AuthenticationFailed("the License ID and App ID do not grant access", cause)

    def count_request(self, principal: Principal, now: dt.datetime) -> None:
        """Count one request against the hourly quota; QuotaExceeded once it is spent.

        Counts are kept in memory and written to the usage table at most every
        `flush_seconds`; the quota is checked against the stored total of all processes (as
        of the last write) plus this process's unwritten count. Several processes can thus
        overshoot a quota by what they serve in one flush interval.
        """
        hour = hour_of(now)
        slot = (principal.license_pk, hour)
        with self._lock:
            if time.monotonic() - self._synced_at >= self.flush_seconds:
                self._sync()
            used = self._totals.get(slot)
            if used is None:
                used = self._totals[slot] = self.store.hour_usage(*slot)[0]
            if used + self._pending_by_license[slot] >= principal.hourly_request_quota:
                retry = seconds_to_next_hour(now)
                log.warning(
                    "request quota spent",
                    extra={
                        "security": "quota",
                        "license_id": principal.license_id,
                        "retry_after": retry,
                    },
                )
                raise QuotaExceeded(
                    f"the license's quota of {principal.hourly_request_quota} requests per hour"
                    f" is spent; retry after {retry} s",
                    retry,
                )
            self._pending[(principal.license_pk, principal.app_pk, hour)] += 1
            self._pending_by_license[slot] += 1

    def _forget(self) -> None:
        with self._lock:
            self._verdicts.clear()

    def flush(self) -> None:
        """Write the counted requests now (also done by the next request after an interval)."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        if self._pending:
            self.store.count_requests(self._pending)
        self._pending.clear()
        self._pending_by_license.clear()
        self._totals.clear()  # re-read lazily: other processes have counted too
        self._synced_at = time.monotonic()

    # --- administration ---------------------------------------------------------------------
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

    def month_pages(self, principal: Principal, now: dt.datetime) -> int:
        """Pages the principal's license has used in the month of `now`."""
        return self.store.month_pages(principal.license_pk, now)

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

    def hour_usage(self, principal: Principal, now: dt.datetime) -> tuple[int, int]:
        """(requests, pages) of the principal's license in the hour of `now`, this
        process's unwritten counts included."""
        self.flush()
        return self.store.hour_usage(principal.license_pk, hour_of(now))

    def licenses(self) -> list[LicenseRecord]:
        return self.store.all()

    def apps(self, license_id: str) -> list[AppRecord]:
        return self.store.apps(self._license(license_id).id)

    def usage(self, license_id: str, since: dt.datetime) -> list[UsageRow]:
        return self.store.usage_since(self._license(license_id).id, since)
