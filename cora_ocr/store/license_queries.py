"""The statements on licenses, apps and hourly usage, run by LicenseStore (store/license_store.py)
and, for the usage jobs count, by JobStore."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cora_ocr.store.engine import dialect_insert
from cora_ocr.store.models import App, License, Usage, WindowsPrincipal
from cora_ocr.store.records import Standing


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def find_license(session: Session, license_id: str) -> License | None:
    return session.scalars(select(License).where(License.license_id == license_id)).first()


def all_licenses(session: Session) -> list[License]:
    return list(session.scalars(select(License).order_by(License.id)).all())


def credentials(session: Session, license_id: str) -> list[tuple[License, App]]:
    """The license with each of its apps (none if the license is unknown)."""
    rows = session.execute(
        select(License, App)
        .join(App, App.license_pk == License.id)
        .where(License.license_id == license_id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def principal_credentials(session: Session, principal: str) -> tuple[License, App] | None:
    """The license and app a Windows principal is mapped to."""
    row = session.execute(
        select(License, App)
        .join(WindowsPrincipal, WindowsPrincipal.license_pk == License.id)
        .join(App, App.id == WindowsPrincipal.app_pk)
        .where(WindowsPrincipal.principal == principal)
    ).first()
    return None if row is None else (row[0], row[1])


def principals(session: Session, license_pk: int | None) -> list[tuple[str, str, str]]:
    """(principal, License ID, app name) of every mapping, or of one license's."""
    query = (
        select(WindowsPrincipal.principal, License.license_id, App.name)
        .join(License, License.id == WindowsPrincipal.license_pk)
        .join(App, App.id == WindowsPrincipal.app_pk)
        .order_by(License.license_id, WindowsPrincipal.principal)
    )
    if license_pk is not None:
        query = query.where(WindowsPrincipal.license_pk == license_pk)
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def add_usage(
    session: Session, license_pk: int, app_pk: int, hour: dt.datetime, **counts: int
) -> None:
    """Add to an app's counters for one hour (an upsert, safe under concurrency)."""
    values: dict[str, Any] = {
        "app_pk": app_pk,
        "hour": hour,
        "license_pk": license_pk,
        "requests": 0,
        "jobs": 0,
        "pages": 0,
        **counts,
    }
    statement = dialect_insert(session)(Usage).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[Usage.app_pk, Usage.hour],
        set_={name: getattr(Usage, name) + getattr(statement.excluded, name) for name in counts},
    )
    session.execute(statement)


def lock_license(session: Session, license_pk: int) -> tuple[int, int] | None:
    """Lock the license's row for the rest of the transaction, and return its hourly and
    monthly page quotas (None if there is no such license). An UPDATE that changes nothing,
    rather than SELECT FOR UPDATE: it takes the row lock on PostgreSQL and the write lock on
    SQLite, which has no row locks, so page reservations are serialised on both."""
    row = session.execute(
        update(License)
        .where(License.id == license_pk)
        .values(hourly_page_quota=License.hourly_page_quota)
        .returning(License.hourly_page_quota, License.monthly_page_quota)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def month_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: dt.datetime) -> dt.datetime:
    start = month_of(moment)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def month_pages(session: Session, license_pk: int, moment: dt.datetime) -> int:
    """Pages a license's jobs count in the month of `moment`: those completed, and those
    started and not yet ended (reserved); failed and aborted jobs gave theirs back."""
    start = month_of(moment)
    pages = session.execute(
        select(func.coalesce(func.sum(Usage.pages), 0)).where(
            Usage.license_pk == license_pk, Usage.hour >= start, Usage.hour < next_month(start)
        )
    ).scalar_one()
    return int(pages)


def standing(session: Session, license_pk: int, app_pk: int | None) -> Standing | None:
    row = session.execute(
        select(License.suspended, License.expires_at, App.enabled)
        .outerjoin(App, App.id == app_pk)
        .where(License.id == license_pk)
    ).first()
    if row is None:
        return None
    return Standing(bool(row[0]), row[1], row[2] is not False)


def apps_of(session: Session, license_pk: int) -> list[App]:
    return list(session.scalars(select(App).where(App.license_pk == license_pk).order_by(App.id)))


def license_usage(session: Session, license_pk: int, hour: dt.datetime) -> tuple[int, int]:
    """(requests, pages) of all of a license's apps in one hour."""
    row = session.execute(
        select(
            func.coalesce(func.sum(Usage.requests), 0), func.coalesce(func.sum(Usage.pages), 0)
        ).where(Usage.license_pk == license_pk, Usage.hour == hour)
    ).one()
    return int(row[0]), int(row[1])


def usage_report(session: Session, license_pk: int, since: dt.datetime) -> list[Any]:
    return list(
        session.execute(
            select(App.name, App.app_id_hint, Usage.hour, Usage.requests, Usage.jobs, Usage.pages)
            .join(App, App.id == Usage.app_pk)
            .where(Usage.license_pk == license_pk, Usage.hour >= since)
            .order_by(Usage.hour, App.name)
        ).all()
    )


def set_flag(session: Session, model: Any, key: Any, **values: Any) -> bool:
    result = session.execute(update(model).where(key).values(**values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
