"""Licenses and apps: who may call, from which region, how much per hour.

Credentials are HTTP Basic: user = License ID, password = App ID. App IDs are stored as
SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from cora_ocr.errors import AuthenticationFailed, CoraError, QuotaExceeded
from cora_ocr.store import App, License, Store
from cora_ocr.store import licensing as queries
from cora_ocr.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    license_pk: int
    app_pk: int
    license_id: str
    app_name: str
    hourly_request_quota: int
    hourly_page_quota: int


def digest(app_id: str) -> str:
    return hashlib.sha256(app_id.encode("utf-8")).hexdigest()


def seconds_to_next_hour(now: dt.datetime) -> int:
    return max(1, int((queries.hour_of(now) + dt.timedelta(hours=1) - now).total_seconds() + 0.999))


class Licensing:
    def __init__(self, store: Store, region: str) -> None:
        self.store = store
        self.region = region

    # --- the request path -----------------------------------------------------------------
    def authenticate(self, license_id: str, app_id: str, now: dt.datetime) -> Principal:
        """The caller, or AuthenticationFailed with a reason that is logged, not shown."""
        with self.store.session() as session:
            pairs = queries.credentials(session, license_id)
        wanted = digest(app_id)
        # Every app of the license is compared, so timing does not reveal which one matched.
        matches = [(lic, app) for lic, app in pairs if hmac.compare_digest(app.app_id_hash, wanted)]
        if not matches:
            return self._refuse("unknown license or app", license_id)
        lic, app = matches[0]
        if lic.suspended:
            return self._refuse("license suspended", license_id)
        if lic.expires_at is not None and lic.expires_at <= now:
            return self._refuse("license expired", license_id)
        if not app.enabled:
            return self._refuse("app disabled", license_id)
        if lic.region != self.region:
            return self._refuse(
                f"license of region {lic.region}, this is {self.region}", license_id
            )
        return Principal(
            lic.id,
            app.id,
            lic.license_id,
            app.name,
            lic.hourly_request_quota,
            lic.hourly_page_quota,
        )

    def _refuse(self, reason: str, license_id: str) -> Principal:
        log.warning(
            "authentication refused: %s",
            reason,
            extra={"security": "auth", "license_id": license_id[:64], "reason": reason},
        )
        raise AuthenticationFailed("the License ID and App ID do not grant access")

    def count_request(self, principal: Principal, now: dt.datetime) -> None:
        """Count one request against the hourly quota; QuotaExceeded once it is spent."""
        hour = queries.hour_of(now)
        with self.store.session.begin() as session:
            requests, _pages = queries.license_usage(session, principal.license_pk, hour)
            if requests >= principal.hourly_request_quota:
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
            queries.add_usage(session, principal.license_pk, principal.app_pk, hour, requests=1)

    # --- administration ---------------------------------------------------------------------
    def create_license(
        self,
        name: str,
        region: str | None = None,
        request_quota: int = 10_000,
        page_quota: int = 1_000,
        expires_at: dt.datetime | None = None,
    ) -> str:
        license_id = secrets.token_hex(8)
        with self.store.session.begin() as session:
            session.add(
                License(
                    license_id=license_id,
                    name=name,
                    region=region or self.region,
                    suspended=False,
                    expires_at=expires_at,
                    hourly_request_quota=request_quota,
                    hourly_page_quota=page_quota,
                    created_at=utcnow(),
                )
            )
        return license_id

    def create_app(self, license_id: str, name: str) -> str:
        """A new App ID for a license; shown once, stored only as a digest."""
        app_id = secrets.token_urlsafe(24)
        with self.store.session.begin() as session:
            lic = session.scalars(select(License).where(License.license_id == license_id)).first()
            if lic is None:
                raise CoraError(f"no license {license_id}")
            session.add(
                App(
                    license_pk=lic.id,
                    app_id_hash=digest(app_id),
                    app_id_hint=app_id[-4:],
                    name=name,
                    enabled=True,
                    created_at=utcnow(),
                )
            )
        return app_id

    def set_license_suspended(self, license_id: str, suspended: bool) -> None:
        with self.store.session.begin() as session:
            if not queries.set_flag(
                session, License, License.license_id == license_id, suspended=suspended
            ):
                raise CoraError(f"no license {license_id}")

    def set_app_enabled(self, license_id: str, app_id: str, enabled: bool) -> None:
        with self.store.session.begin() as session:
            pairs = queries.credentials(session, license_id)
            match = [
                app for _lic, app in pairs if hmac.compare_digest(app.app_id_hash, digest(app_id))
            ]
            if not match:
                raise CoraError(f"no such app for license {license_id}")
            queries.set_flag(session, App, App.id == match[0].id, enabled=enabled)

    def licenses(self) -> list[License]:
        with self.store.session() as session:
            return list(session.scalars(select(License).order_by(License.id)).all())

    def usage(
        self, license_id: str, since: dt.datetime
    ) -> list[tuple[str, str, dt.datetime, int, int, int]]:
        with self.store.session() as session:
            lic = session.scalars(select(License).where(License.license_id == license_id)).first()
            if lic is None:
                raise CoraError(f"no license {license_id}")
            return [tuple(row) for row in queries.usage_report(session, lic.id, since)]
