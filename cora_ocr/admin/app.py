"""The jobs page at /admin/: server-rendered HTML (Jinja2 templates, a little CSS, no script),
behind the admin credential (`admin_user`, `admin_password`; no password: no page).

- A login form sets a session cookie: `<expiry>.<nonce>.<HMAC>` under a key derived from the
  password (changing the password ends every session), HttpOnly, SameSite=Strict, Secure over
  HTTPS, valid SESSION_SECONDS; the session is also kept on the server (store/admin_rows.py), and
  logging out deletes it, so a copy of the cookie is worth nothing after.
- Failed logins earn a wait, per client address and per user name, doubling with each
  failure in a row (1 s, 2 s, 4 s, ... at most 5 minutes): 429 with Retry-After, the
  password not even looked at, until it has passed.
- Every POST (abort, retry, log out) carries a CSRF token, the HMAC of the session's nonce,
  in a hidden field; a POST without the right one gets 403.
- Pages: the job list with filters (state, license, profile, created since/until) and older
  pages; a job with its history, pages progress, input, output and error reason, and abort
  and retry buttons; a license's usage per hour with an SVG chart drawn here.
- HTTPS is required as for the services (the guard's transport check).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cora_ocr.admin.sessions import COOKIE, PREFIX, SESSION_SECONDS, AdminSessions
from cora_ocr.config import Settings
from cora_ocr.errors import ClientError, CoraError, JobNotFound
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Licensing
from cora_ocr.profiles import Profiles
from cora_ocr.robot_watch import silent_profiles, waits_on_silence
from cora_ocr.statuses import JobState, Priority
from cora_ocr.store.admin_rows import AdminRows
from cora_ocr.store.job_store import ANY_JOB, JobFilter
from cora_ocr.web import admission

__all__ = ["COOKIE", "PREFIX", "SESSION_SECONDS", "AdminApp"]

log = logging.getLogger(__name__)
PAGE_SIZE = 50
MAX_JOB_ID = 2**63 - 1  # job ids are 64-bit (store/models.py)
JOB_ID = f"int(max={MAX_JOB_ID})"
StartResponse = Callable[..., Any]


class AdminApp(AdminSessions):
    def __init__(
        self,
        settings: Settings,
        jobs: JobService,
        licensing: Licensing,
        guard: Any,
        rows: AdminRows,
        profiles: Profiles | None = None,
    ) -> None:
        self.settings, self.jobs, self.licensing, self.guard = settings, jobs, licensing, guard
        self.rows = rows
        self.profiles = profiles  # whose robots are silent: their waiting jobs say "no robot"
        self.key = hashlib.sha256(b"cora-ocr admin\0" + settings.admin_password.encode()).digest()
        self.templates = Environment(
            loader=PackageLoader("cora_ocr.admin"), autoescape=select_autoescape()
        )
        self.routes = Map(
            [
                Rule(f"{PREFIX}/", endpoint="list_jobs", methods=["GET"]),
                Rule(f"{PREFIX}/login", endpoint="login", methods=["GET", "POST"]),
                Rule(f"{PREFIX}/logout", endpoint="logout", methods=["POST"]),
                # Ids are 64-bit: a longer number is no job (404), not a database error.
                Rule(f"{PREFIX}/jobs/<{JOB_ID}:job_id>", endpoint="job", methods=["GET"]),
                Rule(f"{PREFIX}/jobs/<{JOB_ID}:job_id>/abort", endpoint="abort", methods=["POST"]),
                Rule(f"{PREFIX}/jobs/<{JOB_ID}:job_id>/retry", endpoint="retry", methods=["POST"]),
                Rule(f"{PREFIX}/usage", endpoint="usage", methods=["GET"]),
            ],
            strict_slashes=True,
        )

    # --- dispatch -----------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            if not self.settings.admin_password:
                raise NotFound("the jobs page is off: set admin_password to turn it on")
            admission.transport(environ)
            endpoint, matched = self.routes.bind_to_environ(environ).match()
            arguments = dict(matched)
            environ["cora_ocr.operation"] = f"admin:{endpoint}"  # web/observe.py OPERATION
            if endpoint != "login":
                nonce = self.session(request)
                if nonce is None:
                    response = self.redirect(f"{PREFIX}/login")
                    return response(environ, start_response)
                if request.method == "POST" and not hmac.compare_digest(
                    request.form.get("csrf", ""), self.csrf(nonce)
                ):
                    response = self.page(
                        "error.html",
                        403,
                        nonce,
                        message="The form has expired"
                        " or did not come from this page: reload and try again.",
                    )
                    return response(environ, start_response)
                arguments["nonce"] = nonce
            response = getattr(self, endpoint)(request, **arguments)
        except HTTPException as exc:
            response = exc.get_response(environ)
        except CoraError as exc:
            response = Response(f"{exc}\n", 403, content_type="text/plain; charset=utf-8")
        return response(environ, start_response)

    # --- pages ----------------------------------------------------------------------------
    def list_jobs(self, request: Request, nonce: str) -> Response:
        args = request.args
        filters = {
            key: args.get(key, "").strip()
            for key in ("state", "license", "profile", "review", "since", "until")
        }
        chosen = ANY_JOB
        problems: list[str] = []
        if filters["state"]:
            if filters["state"] in {state.value for state in JobState}:
                chosen &= JobFilter.state(JobState(filters["state"]))
            else:
                problems.append(f"state: {filters['state']!r} is not a job state")
        license_pk: int | None = None
        licenses = self.licensing.licenses()
        if filters["license"]:
            match = [item for item in licenses if item.license_id == filters["license"]]
            if match:
                license_pk = match[0].id
            else:
                problems.append(f"license: no license {filters['license']!r}")
        if filters["profile"]:
            chosen &= JobFilter.profile(filters["profile"])
        if filters["review"]:
            if filters["review"] in ("yes", "no"):
                chosen &= JobFilter.needs_review(filters["review"] == "yes")
            else:
                problems.append(f"review: {filters['review']!r} is not yes or no")
        bounds = (("since", JobFilter.created_since), ("until", JobFilter.created_before))
        for key, bound in bounds:
            if filters[key]:
                try:
                    when = dt.datetime.fromisoformat(filters[key])
                except ValueError:
                    problems.append(f"{key}: {filters[key]!r} is not a date and time")
                    continue
                chosen &= bound(when.replace(tzinfo=when.tzinfo or dt.UTC))
        before = args.get("before", type=int)
        if "before" in args and (before is None or not 0 < before <= MAX_JOB_ID):
            problems.append(f"before: {args['before']!r} is not a job id")
        jobs = [] if problems else list(self.jobs.page(license_pk, chosen, PAGE_SIZE, before))
        older = None
        if len(jobs) == PAGE_SIZE:
            older = "?" + urlencode(
                {**{k: v for k, v in filters.items() if v}, "before": jobs[-1].id}
            )
        licensed = {item.id: item.license_id for item in licenses}
        silent = silent_profiles(self.profiles.all() if self.profiles is not None else [])
        return self.page(
            "jobs.html",
            400 if problems else 200,
            nonce,
            jobs=jobs,
            unread={job.id for job in jobs if waits_on_silence(job, silent)},
            filters=filters,
            problems=problems,
            states=[state.value for state in JobState],
            licenses=licenses,
            licensed=licensed,
            older=older,
        )

    def job(self, request: Request, job_id: int, nonce: str) -> Response:
        try:
            job = self.jobs.show(job_id)
        except JobNotFound:
            raise NotFound(f"no job {job_id}") from None
        licensed = {item.id: item.license_id for item in self.licensing.licenses()}
        return self.page(
            "job.html",
            200,
            nonce,
            job=job,
            state=JobState(job.state),
            priority=Priority(job.priority).name,
            license_id=licensed.get(job.license_pk) if job.license_pk else None,
            done=request.args.get("done", ""),
            error=request.args.get("error", ""),
        )

    def _act(self, job_id: int, action: Callable[[], object], done: str) -> Response:
        try:
            action()
        except JobNotFound:
            raise NotFound(f"no job {job_id}") from None
        except ClientError as exc:
            return self.redirect(f"{PREFIX}/jobs/{job_id}?" + urlencode({"error": str(exc)}))
        return self.redirect(f"{PREFIX}/jobs/{job_id}?done={done}")

    def abort(self, request: Request, job_id: int, nonce: str) -> Response:
        return self._act(job_id, lambda: self.jobs.abort(job_id, actor="admin"), "aborted")

    def retry(self, request: Request, job_id: int, nonce: str) -> Response:
        return self._act(job_id, lambda: self.jobs.retry(job_id, actor="admin"), "retried")

    def usage(self, request: Request, nonce: str) -> Response:
        licenses = self.licensing.licenses()
        chosen = request.args.get("license", "") or (licenses[0].license_id if licenses else "")
        hours = max(1, min(24 * 14, request.args.get("hours", 48, type=int) or 48))
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        since = now - dt.timedelta(hours=hours - 1)
        totals: dict[dt.datetime, list[int]] = {
            since + dt.timedelta(hours=n): [0, 0, 0] for n in range(hours)
        }
        error = ""
        month: dict[str, int] | None = None
        if chosen:
            try:
                rows = self.licensing.usage(chosen, since)
            except CoraError as exc:
                rows, error = [], str(exc)
            for item in licenses:
                if item.license_id == chosen:
                    pages = self.licensing.store.month_pages(item.id, self.guard.clock.now())
                    month = {"pages": pages, "quota": item.monthly_page_quota}
            for _name, _hint, hour, requests, jobs, pages in rows:
                key = hour.replace(tzinfo=hour.tzinfo or dt.UTC)
                if key in totals:
                    totals[key][0] += requests
                    totals[key][1] += jobs
                    totals[key][2] += pages
        return self.page(
            "usage.html",
            200,
            nonce,
            licenses=licenses,
            chosen=chosen,
            hours=hours,
            chart=chart(totals),
            error=error,
            month=month,
            rows=[(hour, *values) for hour, values in totals.items() if any(values)],
        )


def chart(totals: dict[dt.datetime, list[int]]) -> dict[str, Any]:
    """Bars of pages per hour, scaled into a 640 x 200 SVG drawing."""
    width, height, left, bottom = 640, 200, 40, 24
    hours = list(totals)
    peak = max([values[2] for values in totals.values()] + [1])
    step = (width - left) / max(1, len(hours))
    bars = []
    for index, hour in enumerate(hours):
        pages = totals[hour][2]
        tall = (height - bottom - 10) * pages / peak
        bars.append(
            {
                "x": round(left + index * step + 1, 1),
                "y": round(height - bottom - tall, 1),
                "width": round(max(1.0, step - 2), 1),
                "height": round(tall, 1),
                "title": f"{hour:%Y-%m-%d %H}:00 UTC: {pages} pages",
            }
        )
    labels = [
        {"x": round(left + index * step, 1), "text": f"{hour:%d %H}h"}
        for index, hour in enumerate(hours)
        if index % max(1, len(hours) // 8) == 0
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "base": height - bottom,
        "peak": peak,
        "bars": bars,
        "labels": labels,
        "total": sum(values[2] for values in totals.values()),
    }
