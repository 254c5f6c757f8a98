"""Routes and JSON views of the REST face. Routing and requests are Werkzeug's; the rules
(authentication, quotas, who sees which job) are the same objects SOAP uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from cora_ocr import errors
from cora_ocr.clock import Clock, SystemClock
from cora_ocr.job_view import PREFIX, iso, job_view, status_of
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Licensing, Principal, may_see, seconds_to_next_hour
from cora_ocr.rest import openapi
from cora_ocr.rest.openapi import MAX_ID
from cora_ocr.rest.uploads import Uploads
from cora_ocr.statuses import JobState
from cora_ocr.store.job_store import ANY_JOB, JobFilter
from cora_ocr.store.license_queries import month_of
from cora_ocr.store.records import JobRecord
from cora_ocr.web import admission
from cora_ocr.web.problems import problem, refused

JOB = f"<int(max={MAX_ID}):job_id>"  # a job id the database can hold; larger: 404
JSON = "application/json"
MAX_PAGE = 200

StartResponse = Callable[..., Any]


class NotFound(errors.ClientError):
    """404: no such job, as far as this caller may know."""


def ok(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status, content_type=JSON)


class RestApi:
    """WSGI callable for every path under PREFIX."""

    def __init__(
        self,
        jobs: JobService,
        licensing: Licensing,
        uploads: Uploads,
        clock: Clock | None = None,
    ) -> None:
        self.jobs = jobs
        self.uploads = uploads
        self.licensing = licensing
        self.clock = clock or SystemClock()
        self.routes = Map(
            [
                Rule(f"{PREFIX}/licenses", endpoint="licenses", methods=["GET"]),
                Rule(f"{PREFIX}/jobs", endpoint="list_jobs", methods=["GET"]),
                Rule(f"{PREFIX}/jobs", endpoint="create_job", methods=["POST"]),
                Rule(f"{PREFIX}/jobs/{JOB}/result", endpoint="result", methods=["GET"]),
                Rule(f"{PREFIX}/jobs/{JOB}", endpoint="job", methods=["GET"]),
                Rule(f"{PREFIX}/jobs/{JOB}", endpoint="delete_job", methods=["DELETE"]),
                Rule(f"{PREFIX}/openapi.json", endpoint="openapi", methods=["GET"]),
            ],
            strict_slashes=False,
        )
        names = [profile.name for profile in uploads.profiles.all()]
        self.document = openapi.document(names, jobs.max_timeout)  # fixed for the process

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        try:
            endpoint, arguments = self.routes.bind_to_environ(request.environ).match()
            request.environ["cora_ocr.operation"] = endpoint  # web/observe.py OPERATION
            handler: Callable[..., Response] = getattr(self, endpoint)
            return handler(request, **arguments)
        except HTTPException as exc:  # routing: 404, 405 (with Allow)
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() == "allow"]
            return problem(exc.code or 500, exc.name, exc.description or exc.name, headers)
        except NotFound as exc:
            return problem(404, "Not Found", str(exc))
        except Exception as exc:
            return refused(exc)

    # --- endpoints ------------------------------------------------------------------
    def openapi(self, request: Request) -> Response:
        return ok(self.document)

    def licenses(self, request: Request) -> Response:
        """The caller's license; answered for a license of any region."""
        principal = self._caller(request, any_region=True)
        if principal is None:
            raise errors.ClientError("the local setup's anonymous caller has no license")
        now = self.clock.now()
        requests, pages = self.licensing.hour_usage(principal, now)
        return ok(
            {
                "licenseId": principal.license_id,
                "processingRegion": principal.region,
                "status": "Active",
                "expires": iso(principal.expires_at),
                "hourlyRequestQuota": principal.hourly_request_quota,
                "hourlyPageQuota": principal.hourly_page_quota,
                "monthlyPageQuota": principal.monthly_page_quota,
                "maxPriority": principal.max_priority.name,
                "usage": {
                    "hour": iso(now.replace(minute=0, second=0, microsecond=0)),
                    "requests": requests,
                    "pages": pages,
                    "secondsToNextHour": seconds_to_next_hour(now),
                    "month": {
                        "start": iso(month_of(now)),
                        "pages": self.licensing.month_pages(principal, now),
                    },
                },
            }
        )

    def create_job(self, request: Request) -> Response:
        """201 with the new job; 200 with the job an earlier request with the same
        Idempotency-Key made (422 if it came with another document)."""
        job_id, earlier = self.uploads.create(request.environ, self._caller(request))
        response = ok(job_view(self.jobs.get(job_id)), 200 if earlier else 201)
        response.headers["Location"] = f"{PREFIX}/jobs/{job_id}"
        return response

    def result(self, request: Request, job_id: int) -> Response:
        job = self._own_job(self._caller(request), job_id)
        if job.state != JobState.COMPLETED.value:
            return problem(
                409,
                "Conflict",
                f"job {job_id} is {status_of(job)}; its result comes once it is Completed",
            )
        path, content_type = self.uploads.result(job, request.args.get("format") or None)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"the result of job {job_id} has been removed") from None
        return Response(
            wrap_file(request.environ, handle),
            200,
            [("Content-Length", str(path.stat().st_size))],
            content_type=content_type,
            direct_passthrough=True,
        )

    def job(self, request: Request, job_id: int) -> Response:
        return ok(job_view(self._own_job(self._caller(request), job_id)))

    def delete_job(self, request: Request, job_id: int) -> Response:
        """Aborts the job if it is not final and deletes it for its callers: 404 from then on."""
        job = self._own_job(self._caller(request), job_id)
        try:
            self.jobs.delete(job.id, actor="rest")
        except errors.JobNotFound:  # a parallel DELETE came first
            raise NotFound(f"no job {job_id}") from None
        self.uploads.remove(job)
        return Response(status=204)

    def list_jobs(self, request: Request) -> Response:
        principal = self._caller(request)
        status = request.args.get("status", "")
        try:
            chosen = JobFilter.not_deleted() & (JobFilter.status(status) if status else ANY_JOB)
        except ValueError as exc:
            raise errors.InvalidField("status", str(exc)) from None
        review = request.args.get("needsReview", "")
        if review:
            if review not in ("true", "false"):
                raise errors.InvalidField("needsReview", f"{review!r} is not true or false")
            chosen = chosen & JobFilter.needs_review(review == "true")
        limit = _int_arg(request, "limit", 50, 1, MAX_PAGE)
        after = _int_arg(request, "after", None, 1, 2**63 - 1)
        page = self.jobs.page(
            None if principal is None else principal.license_pk,
            chosen,
            limit,
            after,
        )
        document: dict[str, Any] = {"jobs": [job_view(job) for job in page]}
        if len(page) == limit:
            query = f"?limit={limit}&after={page[-1].id}" + (f"&status={status}" if status else "")
            query += f"&needsReview={review}" if review else ""
            document["next"] = f"{PREFIX}/jobs{query}"
        return ok(document)

    # --- helpers --------------------------------------------------------------------
    def _caller(self, request: Request, any_region: bool = False) -> Principal | None:
        return admission.caller(request.environ, any_region)

    def _own_job(self, principal: Principal | None, job_id: int) -> JobRecord:
        try:
            job = self.jobs.get(job_id)
        except errors.JobNotFound:
            job = None
        if job is None or job.deleted_at is not None or not may_see(principal, job.license_pk):
            raise NotFound(f"no job {job_id}")
        return job


def _int_arg(request: Request, name: str, default: int | None, low: int, high: int) -> Any:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise errors.InvalidField(name, f"{text!r} is not an integer") from None
    if not low <= value <= high:
        raise errors.InvalidField(name, f"{value} is outside {low}..{high}")
    return value
