"""Documents uploaded to the REST face: streamed to disk in the service's own connection
(never whole in memory), judged by their content, made into jobs like any other.

Layout under the connection's root (`<data_dir>/rest`): `staging/<request>/` while a body
arrives (removed when the request ends, however it ends; what a killed process left there is
swept, `connections.sweep_staging`), `inbox/<token>/document.<ext>` once it is a job's input,
`results/<token>/result.<ext>` where the worker delivers. The token is random: one job's
folders are never another's.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import shutil
import tempfile
from pathlib import Path, PurePath
from typing import IO, Any

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.wrappers import Request

from cora_ocr import errors
from cora_ocr.connections import STAGING, UPLOADS, Connections, remove_upload_folders
from cora_ocr.job_view import formats_of
from cora_ocr.jobs import FileBatchRequest, FileRef, JobService
from cora_ocr.licensing import Principal
from cora_ocr.profiles import FORMAT_ALIASES, FORMAT_EXTENSIONS, Profiles
from cora_ocr.robot.documents import sniff
from cora_ocr.store.records import JobRecord
from cora_ocr.worker.callbacks import refusal

DEFAULT_TIMEOUT = 86_400  # seconds a REST job may wait to start, unless `timeout` says
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/tiff": ".tif",
    "image/png": ".png",
    "image/jpeg": ".jpg",
}
RESULT_TYPES = {
    "alto": "application/xml",
    "hocr": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "pdfa": "application/pdf",
}
FIELDS = frozenset({"file", "profile", "externalContext", "callbackUrl", "timeout", "priority"})


class Unsupported(errors.UnsupportedMediaType):
    """415 for the uploaded file: empty, or not a document the profile reads."""


class _Upload(Request):
    """Werkzeug's request, writing file parts into the staging folder instead of memory or
    the system's temporary folder (so that a finished upload is moved, not copied)."""

    staging: Path
    # Werkzeug's cap on one text part (the job's rules judge each field's content). Its
    # multipart decoder applies the same cap to what it holds between two of the parser's
    # 64 KiB reads, file data included: the cap must stay well above that read size, or file
    # data whose read ends inside a boundary's first bytes is refused (issue 25: at 64 KiB
    # most real scans got 413).
    max_form_memory_size = 512 * 1024
    max_form_parts = 16

    def make_form_data_parser(self) -> FormDataParser:
        parser = super().make_form_data_parser()
        parser.silent = False  # a broken body is refused as such, never read as an empty form
        return parser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(dir=self.staging, prefix="part-", delete=False)


class Uploads:
    def __init__(
        self,
        connections: Connections,
        profiles: Profiles,
        jobs: JobService,
        limit: int,
        callback_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.callback_hosts = callback_hosts
        self.root = connections.local_root(UPLOADS)
        self.profiles = profiles
        self.jobs = jobs
        self.limit = limit

    def create(self, environ: dict[str, Any], principal: Principal | None) -> tuple[int, bool]:
        """A job from a multipart/form-data upload, and whether an earlier request with the
        same `Idempotency-Key` made it; refusals store nothing, and every part staged for this
        request is gone when it returns or raises."""
        request = _Upload(environ)
        request.max_content_length = self.limit
        if request.mimetype != "multipart/form-data":
            raise errors.UnsupportedMediaType(
                f"Content-Type: {request.mimetype or '(none)'!r}; "
                "a job is created with multipart/form-data"
            )
        staging = self.root / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        request.staging = Path(tempfile.mkdtemp(dir=staging, prefix="request-"))
        try:
            files, form = self._parse(request)
            try:
                self._check_names([*form.keys(), *files.keys()])
                key = _idempotency_key(environ)
                return self._create(files.get("file"), form, principal, key)
            finally:
                for name in files:
                    for part in files.getlist(name):
                        with contextlib.suppress(OSError):
                            part.stream.close()
        finally:
            shutil.rmtree(request.staging, ignore_errors=True)

    def _parse(self, request: _Upload) -> tuple[Any, Any]:
        try:
            return request.files, request.form
        except ClientDisconnected:
            raise errors.MalformedRequest(
                f"the body ended before its Content-Length of {request.content_length} bytes"
            ) from None
        except ValueError as broken:  # Werkzeug's word for a body that stops mid-part too
            raise errors.MalformedRequest(
                f"the multipart/form-data body is broken or cut short: {broken}"
            ) from None
        except RequestEntityTooLarge:
            declared = request.content_length
            if declared is None or declared > self.limit:
                raise errors.RequestTooLarge(f"the upload exceeds {self.limit} bytes") from None
            raise errors.RequestTooLarge(
                f"the form exceeds its limits: at most {request.max_form_parts} parts, "
                f"and at most {request.max_form_memory_size} bytes in a text field"
            ) from None

    @staticmethod
    def _check_names(names: list[str | None]) -> None:
        if any(not name for name in names):
            raise errors.InvalidField("(a part)", "has no name")
        unknown = sorted({name for name in names if name and name not in FIELDS})
        if unknown:
            raise errors.InvalidField(unknown[0], "is not a field of a job")

    def _create(
        self,
        upload: FileStorage | None,
        form: Any,
        principal: Principal | None,
        key: str | None,
    ) -> tuple[int, bool]:
        if upload is None:
            raise errors.InvalidField("file", "is required: the document to recognise")
        callback = form.get("callbackUrl") or None
        if callback is not None:
            reason = refusal(callback, self.callback_hosts)
            if reason is not None:
                raise errors.InvalidField("callbackUrl", reason)
        name = form.get("profile") or "Default"
        profile = self.profiles.get(name)
        if profile is None:
            raise errors.InvalidField("profile", f"no profile {name!r}")
        upload.stream.flush()
        staged = Path(upload.stream.name)
        if staged.stat().st_size == 0:
            raise Unsupported("file: the document is empty")
        media_type = sniff(staged)
        if media_type is None or media_type not in profile.media_types:
            raise Unsupported(
                "file: its content is not a document profile "
                f"{name!r} reads ({', '.join(profile.media_types)})"
            )
        timeout = _timeout(form.get("timeout"), self.jobs.max_timeout)

        def submit() -> int:
            return self._submit(staged, media_type, form, name, timeout, callback, principal)

        if key is None:
            return submit(), False
        with staged.open("rb") as document:
            digest = hashlib.file_digest(document, "sha256").hexdigest()
        owner = "-" if principal is None else str(principal.license_pk)
        return self.jobs.submit_once(owner, key, digest, submit)

    def _submit(
        self,
        staged: Path,
        media_type: str,
        form: Any,
        name: str,
        timeout: int,
        callback: str | None,
        principal: Principal | None,
    ) -> int:
        profile = self.profiles.get(name)
        assert profile is not None  # _create checked it
        token = secrets.token_hex(16)
        inbox = self.root / "inbox" / token
        inbox.mkdir(parents=True)
        document = f"document{EXTENSIONS[media_type]}"
        staged.rename(inbox / document)
        request = FileBatchRequest(
            timeout=timeout,
            external_context=form.get("externalContext"),
            input_file=FileRef(UPLOADS, f"inbox/{token}", document),
            ocr_profile=name,
            output_file=FileRef(UPLOADS, f"results/{token}", "result" + profile.result_extension),
            put_model="FailIfExists",
            priority=form.get("priority") or None,
        )
        try:
            return self.jobs.submit(
                request, principal, actor="rest", internal=True, callback_url=callback or None
            )
        except BaseException:
            shutil.rmtree(inbox, ignore_errors=True)
            raise

    def result(self, job: JobRecord, wanted: str | None = None) -> tuple[Path, str]:
        """The completed job's result file in the format `wanted` (None: its first) and its
        content type."""
        if job.output_connection != UPLOADS:
            raise errors.ClientError(
                f"job {job.id} delivers its result to connection {job.output_connection!r}, "
                "not to the service"
            )
        name = job.output_final_name or job.output_name
        formats = formats_of(job) or [self._first_format(job)]
        chosen = FORMAT_ALIASES.get(wanted, wanted) if wanted else formats[0]
        if chosen not in formats:
            raise errors.InvalidField(
                "format", f"{wanted!r} is not one of this job's formats ({', '.join(formats)})"
            )
        if chosen != formats[0]:
            name = PurePath(name).stem + FORMAT_EXTENSIONS[chosen]
        path = self.root / job.output_location / name
        return path, RESULT_TYPES.get(chosen, "application/octet-stream")

    def _first_format(self, job: JobRecord) -> str:
        profile = self.profiles.get(job.ocr_profile)
        return profile.output_format if profile is not None else "alto"

    def remove(self, job: JobRecord) -> None:
        """A REST job's folders, input and result."""
        remove_upload_folders(
            self.root, job.input_connection, job.input_location, job.output_location
        )


def _timeout(text: str | None, longest: int) -> int:
    if not text:
        return min(DEFAULT_TIMEOUT, longest)
    try:
        seconds = int(text)
    except ValueError:
        raise errors.InvalidField("timeout", f"{text!r} is not a number of seconds") from None
    if not 1 <= seconds <= longest:
        raise errors.InvalidField("timeout", f"{seconds} is outside 1..{longest} seconds")
    return seconds


MAX_KEY = 255


def _idempotency_key(environ: dict[str, Any]) -> str | None:
    """The request's `Idempotency-Key` (1-255 printable ASCII characters), or None."""
    key = environ.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY or not all(" " < c <= "~" for c in key):
        raise errors.InvalidField(
            "Idempotency-Key", f"must be 1 to {MAX_KEY} printable ASCII characters, no spaces"
        )
    return str(key)
