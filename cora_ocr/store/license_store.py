"""LicenseStore: the door to licenses, apps and their hourly usage, as JobStore is to jobs.
Each method owns its transaction and returns frozen records (store/records.py). It keeps no
rules: who may call and how much is cora_ocr/licensing.py's."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from cora_ocr.store import license_queries as queries
from cora_ocr.store.engine import Store
from cora_ocr.store.job_queries import wake_throttled_jobs
from cora_ocr.store.models import App, License, WindowsPrincipal, utcnow
from cora_ocr.store.records import AppRecord, LicenseRecord, Standing, UsageRow


def _license(row: License) -> LicenseRecord:
    return LicenseRecord(
        **{field.name: getattr(row, field.name) for field in dataclasses.fields(LicenseRecord)}
    )


def _app(row: App) -> AppRecord:
    return AppRecord(
        **{field.name: getattr(row, field.name) for field in dataclasses.fields(AppRecord)}
    )


class LicenseStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- reading --------------------------------------------------------------------------
    def find(self, license_id: str) -> LicenseRecord | None:
        with self.store.reading() as session:
            found = queries.find_license(session, license_id)
            return None if found is None else _license(found)

    def all(self) -> list[LicenseRecord]:
        with self.store.reading() as session:
            return [_license(row) for row in queries.all_licenses(session)]

    def credentials(self, license_id: str) -> list[tuple[LicenseRecord, AppRecord]]:
        """The license with each of its apps (none if the license is unknown)."""
        with self.store.reading() as session:
            pairs = queries.credentials(session, license_id)
            return [(_license(lic), _app(app)) for lic, app in pairs]

    def principal_credentials(self, principal: str) -> tuple[LicenseRecord, AppRecord] | None:
        """The license and app a Windows principal (licensing.principal_key) calls as."""
        with self.store.reading() as session:
            found = queries.principal_credentials(session, principal)
            return None if found is None else (_license(found[0]), _app(found[1]))

    def principals(self, license_pk: int | None = None) -> list[tuple[str, str, str]]:
        """(principal, License ID, app name) of every Windows principal, or one license's."""
        with self.store.reading() as session:
            return queries.principals(session, license_pk)

    def apps(self, license_pk: int) -> list[AppRecord]:
        with self.store.reading() as session:
            return [_app(row) for row in queries.apps_of(session, license_pk)]

    def standing(self, license_pk: int, app_pk: int | None) -> Standing | None:
        """Whether a license (and the app a job came from) may still have work done."""
        with self.store.reading() as session:
            return queries.standing(session, license_pk, app_pk)

    def hour_usage(self, license_pk: int, hour: dt.datetime) -> tuple[int, int]:
        """(requests, pages) of all of a license's apps in one hour."""
        with self.store.reading() as session:
            return queries.license_usage(session, license_pk, hour)

    def usage_since(self, license_pk: int, since: dt.datetime) -> list[UsageRow]:
        with self.store.reading() as session:
            return [UsageRow(*row) for row in queries.usage_report(session, license_pk, since)]

    # --- writing --------------------------------------------------------------------------
    def count_requests(self, counts: Mapping[tuple[int, int, dt.datetime], int]) -> None:
        """Add requests per (license, app, hour), in one transaction."""
        with self.store.transaction() as session:
            for (license_pk, app_pk, hour), count in counts.items():
                queries.add_usage(session, license_pk, app_pk, hour, requests=count)

    def add_license(self, **columns: object) -> None:
        """A new license row (`columns`: License's columns but its id)."""
        with self.store.transaction() as session:
            session.add(License(**{"created_at": utcnow(), **columns}))

    def add_app(self, license_pk: int, app_id_hash: str, app_id_hint: str, name: str) -> None:
        with self.store.transaction() as session:
            session.add(
                App(
                    license_pk=license_pk,
                    app_id_hash=app_id_hash,
                    app_id_hint=app_id_hint,
                    name=name,
                    enabled=True,
                    created_at=utcnow(),
                )
            )

    def map_principal(self, principal: str, license_pk: int, app_pk: int) -> None:
        """Map a Windows principal to an app (a mapping it had before is replaced)."""
        with self.store.transaction() as session:
            session.merge(
                WindowsPrincipal(
                    principal=principal, license_pk=license_pk, app_pk=app_pk, created_at=utcnow()
                )
            )

    def unmap_principal(self, principal: str) -> bool:
        """False if the principal was not mapped."""
        with self.store.transaction() as session:
            found = session.get(WindowsPrincipal, principal)
            if found is None:
                return False
            session.delete(found)
            return True

    def callback_secret(self, license_pk: int) -> str | None:
        """The key the license's callbacks are signed with (None: no such license)."""
        with self.store.reading() as session:
            found = session.get(License, license_pk)
            return None if found is None else found.callback_secret

    def set_callback_secret(self, license_id: str, secret: str) -> bool:
        """False if there is no such license."""
        return self._change(license_id, False, callback_secret=secret)

    def month_pages(self, license_pk: int, now: dt.datetime) -> int:
        with self.store.reading() as session:
            return queries.month_pages(session, license_pk, now)

    def set_max_priority(self, license_id: str, priority: int) -> bool:
        """The highest priority the license's jobs may ask for; False if no such license."""
        return self._change(license_id, False, max_priority=priority)

    def set_monthly_pages(self, license_id: str, pages: int) -> bool:
        """Set the quota; the license's throttled jobs are made due (False: no license)."""
        return self._change(license_id, True, monthly_page_quota=pages)

    def set_suspended(self, license_id: str, suspended: bool) -> bool:
        """Suspend or reinstate; a suspended license's throttled jobs are made due at once
        (so the workers stop them now). False if there is no such license."""
        return self._change(license_id, suspended, suspended=suspended)

    def _change(self, license_id: str, wake: bool, **values: object) -> bool:
        """Write a license's columns and, with `wake`, make its throttled jobs due at once,
        in one transaction; False if there is no such license."""
        with self.store.transaction() as session:
            found = queries.find_license(session, license_id)
            if found is None:
                return False
            queries.set_flag(session, License, License.id == found.id, **values)
            if wake:
                wake_throttled_jobs(session, found.id)
            return True

    def set_app_enabled(self, license_pk: int, app_pk: int, enabled: bool) -> None:
        """Enable or disable an app; a disabled app's throttled jobs are made due at once."""
        with self.store.transaction() as session:
            queries.set_flag(session, App, App.id == app_pk, enabled=enabled)
            if not enabled:
                wake_throttled_jobs(session, license_pk, app_pk)
