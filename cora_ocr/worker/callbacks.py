"""Callbacks of REST jobs: once a job with a `callbackUrl` is final, the worker POSTs its JSON
view there, retrying with backoff; each attempt is recorded in the job's history.

The queue is the jobs table (`callback_state` pending, sent or failed; `callback_due_at`),
so any worker sends, a restart loses nothing, and two workers do not send the same attempt
(each claims a callback by moving its due time ahead, compare-and-set). Only hosts listed in
the `callback_hosts` setting are ever contacted: checked when the job is created and again
before each attempt; redirects are not followed and no proxy from the environment is used.

A licensed job's callback is signed with its license's callback secret (`Cora-Signature`:
`signature`); a job made without credentials (the local setup) has no license and no secret,
and its callbacks are not signed.

Attempts run on a small thread pool of their own, never in the worker's loop: a slow endpoint
holds one of its threads, not the jobs. Each attempt has wall-clock deadlines (its status line
within STATUS_SECONDS, the whole attempt within ATTEMPT_SECONDS: a socket cut at the deadline,
however slowly the other side trickles bytes), and at most PER_HOST attempts are in flight to
one host; a callback whose host is busy waits for a later turn.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Collection
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from cora_ocr.clock import Clock
from cora_ocr.store.job_store import PENDING, JobStore
from cora_ocr.store.records import JobRecord

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_DELAY_SECONDS = 5.0  # then 10, 20, 40
CLAIM_SECONDS = 60.0  # an attempt in hand (past its own deadline); then another worker may try
STATUS_SECONDS = 10.0  # from the start of an attempt to the answer's status line and headers
ATTEMPT_SECONDS = 30.0  # the whole attempt: connecting, sending, the answer
PER_HOST = 2  # attempts in flight to one host, per worker process
THREADS = 8
SENT, FAILED = "sent", "failed"  # and PENDING (store/job_store.py)


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


class Deadline:
    """Cuts a connection's socket once `seconds` have passed (a blocked read then fails at
    once), unless `cancel` came first."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float, what: str) -> None:
        self.what, self.passed = what, False

        def cut() -> None:
            self.passed = True
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        self._timer = threading.Timer(seconds, cut)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()


SIGNATURE = "Cora-Signature"


def signature(secret: str, body: bytes, at: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the license's callback
    secret: what a receiver checks (docs/guides/rest.md, "Signed callbacks") to tell our
    callback from a forgery, and a replay (t) from a fresh one."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def post(
    url: str,
    body: bytes,
    status_seconds: float,
    attempt_seconds: float,
    signed: str | None = None,
) -> int:
    """POST `body` to `url` (http.client: no proxy, no redirect followed); the answer's
    status. OSError with the reason, a deadline's included."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=attempt_seconds)
    whole = Deadline(connection, attempt_seconds, f"no answer within {attempt_seconds:g} s")
    status = Deadline(connection, status_seconds, f"no status line within {status_seconds:g} s")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": "cora-ocr"}
    if signed is not None:
        headers[SIGNATURE] = signed
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        status.cancel()
        answer.read(64 * 1024)  # a little of the body, within the whole deadline
        return answer.status
    except (OSError, http.client.HTTPException) as exc:
        for deadline in (status, whole):
            if deadline.passed:
                raise TimeoutError(deadline.what) from None
        raise OSError(str(exc) or type(exc).__name__) from None
    finally:
        status.cancel()
        whole.cancel()
        connection.close()


class Callbacks:
    """Sends due callbacks on a pool of its own threads (made on first use, let go of by
    `close`); never sends in the caller's thread, never changes a job's state."""

    def __init__(
        self,
        store: JobStore,
        hosts: Collection[str],
        clock: Clock,
        view: Callable[[JobRecord], dict[str, Any]],
        secret_of: Callable[[int], str | None] = lambda _license_pk: None,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.clock = clock
        self.view = view
        self.secret_of = secret_of  # a license's callback secret
        self.status_seconds, self.attempt_seconds = STATUS_SECONDS, ATTEMPT_SECONDS
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: Counter[str] = Counter()  # per host
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def close(self, wait: bool = False) -> None:
        """Let go of the pool (`wait`: once the attempts in flight are done); an attempt cut
        short by a stopping process is tried again by any worker once its claim runs out."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)

    def in_flight(self) -> int:
        """Attempts started and not yet done."""
        with self._lock:
            return len(self._futures)

    def wait(self) -> None:
        """Until the attempts in flight are done (burst mode: tests never sleep)."""
        with self._lock:
            pending = list(self._futures)
        futures.wait(pending)

    def run_due(self, limit: int = 20) -> int:
        """Start the callbacks that are due now and whose host has room; returns how many
        were started. Returns at once: the attempts run on the pool."""
        claimed = self._claim(limit)
        for job_id, state, url, attempts, document, secret in claimed:
            host = _host(url)
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="callback")
                self._in_flight[host] += 1
                future = self._pool.submit(
                    self._attempt, job_id, state, url, attempts + 1, document, secret
                )
                self._futures.add(future)
            future.add_done_callback(functools.partial(self._done, host))
        return len(claimed)

    def _done(self, host: str, future: Future[None]) -> None:
        with self._lock:
            self._in_flight[host] -= 1
            self._futures.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("a callback attempt failed", exc_info=future.exception())

    def _has_room(self, url: str, taken: Counter[str]) -> bool:
        host = _host(url)
        with self._lock:
            busy = self._in_flight[host]
        return busy + taken[host] < PER_HOST

    def _claim(self, limit: int) -> list[tuple[int, str, str, int, dict[str, Any], str | None]]:
        now = self.clock.now()
        claimed: list[tuple[int, str, str, int, dict[str, Any], str | None]] = []
        taken: Counter[str] = Counter()
        until = now + dt.timedelta(seconds=CLAIM_SECONDS)
        for job in self.store.due_callbacks(now, limit):
            url = job.callback_url or ""
            if not self._has_room(url, taken):
                continue  # its host has PER_HOST attempts in flight: a later turn
            if self.store.claim_callback(job, until):
                taken[_host(url)] += 1
                license_pk = job.license_pk
                secret = None if license_pk is None else self.secret_of(license_pk)
                attempts = job.callback_attempts
                claimed.append((job.id, job.state, url, attempts, self.view(job), secret))
        return claimed

    def _attempt(
        self,
        job_id: int,
        state: str,
        url: str,
        attempt: int,
        document: dict[str, Any],
        secret: str | None,
    ) -> None:
        reason = refusal(url, self.hosts)
        if reason is not None:
            self._record(job_id, state, attempt, FAILED, f"callback not sent: {reason}")
            return
        target = urlsplit(url).netloc
        body = json.dumps(document).encode()
        signed = None
        if secret is not None:  # a licensed job; the local setup's jobs are not signed
            signed = signature(secret, body, int(self.clock.now().timestamp()))
        try:
            status = post(url, body, self.status_seconds, self.attempt_seconds, signed)
        except OSError as exc:
            failure = str(exc)
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
        self.store.record_callback(job_id, state, attempt, outcome, reason, now, due)


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""
