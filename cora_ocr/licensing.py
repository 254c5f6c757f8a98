"""Licenses and apps: who may call, from which region, how much per hour.

Credentials are HTTP Basic: user = License ID, password = App ID. App IDs are stored as
SHA-256 digests and compared in constant time. A Windows caller (Negotiate or NTLM,
web/windows.py) is mapped to one license's app by an operator and is then the same caller as
that app's Basic credentials.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from cora_ocr.errors import AuthenticationFailed, QuotaExceeded
from cora_ocr.license_admin import (
    LicenseAdministration,
    _matching,
    digest,
    principal_key,
)
from cora_ocr.statuses import Priority
from cora_ocr.store.license_queries import hour_of
from cora_ocr.store.license_store import LicenseStore
from cora_ocr.store.records import AppRecord, LicenseRecord

__all__ = ["Licensing", "Principal", "digest", "may_see", "principal_key"]

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


class Licensing(LicenseAdministration):
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

    def month_pages(self, principal: Principal, now: dt.datetime) -> int:
        """Pages the principal's license has used in the month of `now`."""
        return self.store.month_pages(principal.license_pk, now)

    def hour_usage(self, principal: Principal, now: dt.datetime) -> tuple[int, int]:
        """(requests, pages) of the principal's license in the hour of `now`, this
        process's unwritten counts included."""
        self.flush()
        return self.store.hour_usage(principal.license_pk, hour_of(now))
