"""The jobs page's rows (admin/app.py): sessions kept on the server, and failed logins with
the wait they earn. Every process of every host sees the same, through the database."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, select

from cora_ocr.store.engine import Store
from cora_ocr.store.models import AdminLoginFailures, AdminSession

# The wait after the n-th failed login in a row: 2^(n-1) seconds, at most this long.
LONGEST_WAIT = dt.timedelta(minutes=5)


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class AdminRows:
    """Sessions and login failures of the jobs page. Never reads or writes jobs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def start_session(self, nonce: str, expires_at: dt.datetime, now: dt.datetime) -> None:
        with self.store.transaction() as session:
            session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
            session.add(AdminSession(nonce_hash=_hash(nonce), expires_at=expires_at))

    def session_alive(self, nonce: str, now: dt.datetime) -> bool:
        with self.store.reading() as session:
            expires = session.scalar(
                select(AdminSession.expires_at).where(AdminSession.nonce_hash == _hash(nonce))
            )
        return expires is not None and expires > now

    def end_session(self, nonce: str) -> None:
        with self.store.transaction() as session:
            session.execute(delete(AdminSession).where(AdminSession.nonce_hash == _hash(nonce)))

    def wait(self, keys: list[str], now: dt.datetime) -> float:
        """Seconds before any of `keys` may try to log in again (0: now)."""
        with self.store.reading() as session:
            until = session.scalars(
                select(AdminLoginFailures.blocked_until).where(AdminLoginFailures.key.in_(keys))
            ).all()
        return max([0.0, *((moment - now).total_seconds() for moment in until)])

    def failed(self, keys: list[str], now: dt.datetime) -> None:
        with self.store.transaction() as session:
            for key in keys:
                row = session.get(AdminLoginFailures, key)
                if row is None:
                    row = AdminLoginFailures(key=key, failures=0, blocked_until=now)
                    session.add(row)
                row.failures += 1
                wait = dt.timedelta(seconds=2 ** min(row.failures - 1, 20))
                row.blocked_until = now + min(wait, LONGEST_WAIT)

    def succeeded(self, keys: list[str]) -> None:
        with self.store.transaction() as session:
            session.execute(delete(AdminLoginFailures).where(AdminLoginFailures.key.in_(keys)))
