"""Documents uploaded to the REST face: streamed to disk in the service's own connection
(never whole in memory), judged by their content, made into jobs like any other.

Layout under the connection's root (`<data_dir>/rest`): `staging/` while a body arrives,
`inbox/<token>/document.<ext>` once it is a job's input, `results/<token>/result.<ext>` where
the worker delivers. The token is random: one job's folders are never another's.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from cora_ocr import errors
from cora_ocr.connections import UPLOADS, Connections, remove_upload_folders
from cora_ocr.jobs import FileBatchRequest, FileRef, JobService
from cora_ocr.licensing import Principal
from cora_ocr.profiles import Profiles
from cora_ocr.robot.documents import sniff
from cora_ocr.store import Job
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
}
FIELDS = frozenset({"file", "profile", "externalContext", "callbackUrl", "timeout"})


class Unsupported(errors.UnsupportedMediaType):
    """415 for the uploaded file: empty, or not a document the profile reads."""


class _Upload(Request):
    """Werkzeug's request, writing file parts into the staging folder instead of memory or
    the system's temporary folder (so that a finished upload is moved, not copied)."""

    staging: Path
    max_form_memory_size = 64 * 1024  # the text fields together
    max_form_parts = 16

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

    def create(self, environ: dict[str, Any], principal: Principal | None) -> int:
        """A job from a multipart/form-data upload; refusals store nothing."""
        staging = self.root / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        request = _Upload(environ)
        request.staging = staging
        request.max_content_length = self.limit
        if request.mimetype != "multipart/form-data":
            raise errors.UnsupportedMediaType(
                f"Content-Type: {request.mimetype or '(none)'!r}; "
                "a job is created with multipart/form-data"
            )
        try:
            files, form = request.files, request.form
        except RequestEntityTooLarge:
            raise errors.RequestTooLarge(f"the upload exceeds {self.limit} bytes") from None
        parts = [part for name in files for part in files.getlist(name)]
        try:
            self._check_names([*form.keys(), *files.keys()])
            return self._create(files.get("file"), form, principal)
        finally:
            for part in parts:
                _discard(part)

    @staticmethod
    def _check_names(names: list[str | None]) -> None:
        if any(not name for name in names):
            raise errors.InvalidField("(a part)", "has no name")
        unknown = sorted({name for name in names if name and name not in FIELDS})
        if unknown:
            raise errors.InvalidField(unknown[0], "is not a field of a job")

    def _create(self, upload: FileStorage | None, form: Any, principal: Principal | None) -> int:
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
        )
        try:
            extra = {"callback_url": callback, "callback_state": "pending"} if callback else {}
            return self.jobs.submit(request, principal, actor="rest", internal=True, extra=extra)
        except BaseException:
            shutil.rmtree(inbox, ignore_errors=True)
            raise

    def result(self, job: Job) -> tuple[Path, str]:
        """The completed job's result file and its content type."""
        if job.output_connection != UPLOADS:
            raise errors.ClientError(
                f"job {job.id} delivers its result to connection {job.output_connection!r}, "
                "not to the service"
            )
        name = job.output_final_name or job.output_name
        path = self.root / job.output_location / name
        profile = self.profiles.get(job.ocr_profile)
        output_format = profile.output_format if profile is not None else "alto"
        return path, RESULT_TYPES.get(output_format, "application/octet-stream")

    def remove(self, job: Job) -> None:
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


def _discard(part: FileStorage) -> None:
    """A staged part that did not become a job's input."""
    stream = part.stream
    with contextlib.suppress(OSError, AttributeError):
        stream.close()
        Path(stream.name).unlink(missing_ok=True)
