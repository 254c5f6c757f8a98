"""Callbacks of REST jobs: once a job with a `callbackUrl` is final, the worker POSTs its JSON
view there, retrying with backoff; each attempt is recorded in the job's history.

The queue is the jobs table (`callback_state` pending, sent or failed; `callback_due_at`),
so any worker sends, a restart loses nothing, and two workers do not send the same attempt
(each claims a callback by moving its due time ahead, compare-and-set). Only hosts listed in
the `callback_hosts` setting are ever contacted: checked when the job is created and again
before each attempt; redirects are not followed and no proxy from the environment is used.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, or_, select, update

from cora_ocr.clock import Clock
from cora_ocr.statuses import FINAL_STATES
from cora_ocr.store import Job, JobEvent, Store
from cora_ocr.store.engine import STATUS_UNCHANGED

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_DELAY_SECONDS = 5.0  # then 10, 20, 40
CLAIM_SECONDS = 60.0  # an attempt in hand; past it, another worker may try
TIMEOUT_SECONDS = 10.0
PENDING, SENT, FAILED = "pending", "sent", "failed"


def refusal(url: str, hosts: Collection[str]) -> str | None:
    """Why `url` may not be called back, or None. `hosts` holds `host` or `host:port`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http or https URL"
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    if host in hosts or shown in hosts or f"{shown}:{port}" in hosts:
        return None
    return f"host {shown}:{port} is not in callback_hosts"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, not a new address to call


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


class Callbacks:
    def __init__(
        self,
        store: Store,
        hosts: Collection[str],
        clock: Clock,
        view: Callable[[Job], dict[str, Any]],
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.clock = clock
        self.view = view

    def run_due(self, limit: int = 20) -> int:
        """Send the callbacks that are due now; returns how many were attempted."""
        now = self.clock.now()
        claimed: list[tuple[int, str, str, int, dict[str, Any]]] = []
        with self.store.session.begin() as session:
            due = session.scalars(
                select(Job)
                .where(
                    Job.callback_state == PENDING,
                    Job.state.in_([state.value for state in FINAL_STATES]),
                    or_(Job.callback_due_at.is_(None), Job.callback_due_at <= now),
                )
                .order_by(Job.id)
                .limit(limit)
            ).all()
            for job in due:
                same_due = (
                    Job.callback_due_at.is_(None)
                    if job.callback_due_at is None
                    else Job.callback_due_at == job.callback_due_at
                )
                taken = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.callback_state == PENDING, same_due)
                    .values(callback_due_at=now + dt.timedelta(seconds=CLAIM_SECONDS))
                    .execution_options(**{STATUS_UNCHANGED: True})
                )
                if taken.rowcount:  # type: ignore[attr-defined]
                    url = job.callback_url or ""
                    claimed.append((job.id, job.state, url, job.callback_attempts, self.view(job)))
        for job_id, state, url, attempts, document in claimed:
            self._attempt(job_id, state, url, attempts + 1, document)
        return len(claimed)

    def _attempt(
        self, job_id: int, state: str, url: str, attempt: int, document: dict[str, Any]
    ) -> None:
        reason = refusal(url, self.hosts)
        if reason is not None:
            self._record(job_id, state, attempt, FAILED, f"callback not sent: {reason}")
            return
        target = urlsplit(url).netloc
        request = urllib.request.Request(
            url,
            data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "cora-ocr"},
            method="POST",
        )
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            failure = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            failure = str(getattr(exc, "reason", exc))
        else:
            if 200 <= status < 300:
                self._record(job_id, state, attempt, SENT, f"callback to {target}: HTTP {status}")
                return
            failure = f"HTTP {status}"
        if attempt >= MAX_ATTEMPTS:
            self._record(
                job_id,
                state,
                attempt,
                FAILED,
                f"callback to {target} failed ({failure}); gave up after {attempt} attempts",
            )
        else:
            delay = FIRST_DELAY_SECONDS * 2 ** (attempt - 1)
            self._record(
                job_id,
                state,
                attempt,
                PENDING,
                f"callback to {target} failed ({failure}); attempt {attempt + 1} in {delay:g} s",
                self.clock.now() + dt.timedelta(seconds=delay),
            )

    def _record(
        self,
        job_id: int,
        state: str,
        attempt: int,
        outcome: str,
        reason: str,
        due: dt.datetime | None = None,
    ) -> None:
        now = self.clock.now()
        log.info("job %s: %s", job_id, reason, extra={"job_id": job_id})
        with self.store.session.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(callback_state=outcome, callback_attempts=attempt, callback_due_at=due)
                .execution_options(**{STATUS_UNCHANGED: True})
            )
            session.execute(
                insert(JobEvent).values(
                    job_id=job_id,
                    at=now,
                    from_state=state,
                    to_state=state,
                    error_code="NoError",
                    reason=reason,
                    actor="callback",
                )
            )
