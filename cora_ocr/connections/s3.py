"""Amazon S3 connections and S3-compatible stores (MinIO, SeaweedFS, Ceph), through boto3.

Delivery is atomic on S3 itself: an object appears whole when its single PUT (up to PART
bytes) or its multipart upload completes, never in part. Without replacing, the PUT or the
completion carries `If-None-Match: *`: the store refuses it (412) if the key appeared
meanwhile, so FailIfExists and Rename never overwrite a result that came in between. A
failed multipart upload is aborted (its parts are not kept, nor billed).

Documents move a PART at a time: a part is read, sent, and let go before the next, so a
200 MB document costs the worker about one part of memory. The SDK retries throttling
(`SlowDown`, 503) and dropped connections with backoff ("standard" mode) before an error
comes here; the worker then tries the step again later (worker/loop.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import threading
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, BinaryIO

from cora_ocr.connections.files import TargetExists
from cora_ocr.connections.objects import ObjectStorage, RangedReader, buffered, read_full
from cora_ocr.connections.specs import (
    DEFAULT_TIMEOUT,
    base_path,
    from_env,
    missing_env,
    number,
    optional,
    text,
)
from cora_ocr.connections.storage import StorageError
from cora_ocr.errors import SettingsError

PART = 8 * 1024 * 1024  # S3's multipart parts must be at least 5 MiB (but the last)
SDK_ATTEMPTS = 4  # tries of one request by the SDK itself, throttling and resets included

_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "403",
}
_BUSY = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "500",
    "502",
    "503",
    "504",
}


# What the settings say of a connection of this kind (connections/specs.py: KINDS).
KEYS = frozenset(
    {"type", "bucket", "base_path", "region", "endpoint_url", "timeout"}
    | {"access_key_env", "secret_key_env"}
)


@dataclasses.dataclass(frozen=True)
class S3Spec:
    bucket: str
    # The key prefix the connection never leaves ("" the whole bucket).
    base_path: str = ""
    region: str | None = None
    endpoint_url: str | None = None  # an S3-compatible store: MinIO, SeaweedFS, Ceph
    # Environment variables holding the keys, and their values when the settings were read;
    # none named: the SDK's default credential chain (environment, profile, instance role).
    access_key_env: str | None = None
    access_key: str | None = dataclasses.field(default=None, repr=False, compare=False)
    secret_key_env: str | None = None
    secret_key: str | None = dataclasses.field(default=None, repr=False, compare=False)
    timeout: float = DEFAULT_TIMEOUT

    kind = "s3"

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.base_path}".rstrip("/")
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    def secret_problem(self) -> str | None:
        return missing_env(
            (self.access_key_env, self.access_key), (self.secret_key_env, self.secret_key)
        )


def parse(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> S3Spec:
    access, secret = (
        optional(where, entry, "access_key_env"),
        optional(where, entry, "secret_key_env"),
    )
    if (access is None) != (secret is None):
        raise SettingsError(
            f"{where}: give access_key_env and secret_key_env together, or neither (the "
            "SDK's default credentials)"
        )
    endpoint = optional(where, entry, "endpoint_url")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"{where}.endpoint_url: {endpoint!r} is not an http(s) URL")
    return S3Spec(
        bucket=text(where, entry, "bucket"),
        base_path=base_path(where, entry, "base_path"),
        region=optional(where, entry, "region"),
        endpoint_url=endpoint,
        access_key_env=access,
        access_key=from_env(environ, access),
        secret_key_env=secret,
        secret_key=from_env(environ, secret),
        timeout=number(where, entry, "timeout", DEFAULT_TIMEOUT, 1, 3600, float),
    )


def storage(name: str, spec: S3Spec) -> S3Storage:
    return S3Storage(name, spec)


class S3Storage(ObjectStorage):
    kind = "s3"

    def __init__(self, name: str, spec: S3Spec) -> None:
        self.name, self.spec, self.base_path = name, spec, spec.base_path
        self._client: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.spec.describe()

    def where(self, target: PurePath) -> str:
        return f"{self.name}:s3://{self.spec.bucket}/{self.key(target)}"

    @property
    def client(self) -> Any:
        """One client per connection and process (boto3's clients are thread-safe)."""
        problem = self.spec.secret_problem()
        if problem:
            raise StorageError(problem, transient=False)
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                spec = self.spec
                self._client = boto3.session.Session().client(
                    "s3",
                    region_name=spec.region,
                    endpoint_url=spec.endpoint_url,
                    aws_access_key_id=spec.access_key,
                    aws_secret_access_key=spec.secret_key,
                    config=Config(
                        connect_timeout=spec.timeout,
                        read_timeout=spec.timeout,
                        retries={"max_attempts": SDK_ATTEMPTS, "mode": "standard"},
                        # Checksums only where S3 asks for them: S3-compatible stores may
                        # know no others.
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    ),
                )
            return self._client

    # --- errors ------------------------------------------------------------------------
    def translate(self, error: Exception) -> BaseException:
        import urllib3
        from botocore import exceptions as sdk

        spec = self.spec
        if isinstance(error, sdk.ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            operation = getattr(error, "operation_name", "")
            if code == "NoSuchBucket" or (
                operation == "HeadBucket" and code in ("404", "NotFound")
            ):
                return StorageError(f"bucket {spec.bucket} does not exist", transient=False)
            if code in ("NoSuchKey", "404", "NotFound"):
                return FileNotFoundError(errno.ENOENT, "no such object")
            if code in ("PreconditionFailed", "412") or status == "412":
                return TargetExists(errno.EEXIST, "the key exists")
            if code in _DENIED or status == "403":
                return StorageError(
                    f"access denied ({code}): wrong keys, or no right to bucket {spec.bucket}",
                    transient=False,
                )
            if code in _BUSY or status in _BUSY:
                return StorageError(
                    f"the store is busy or failing ({code or status}); tried "
                    f"{SDK_ATTEMPTS} times with backoff",
                    transient=True,
                )
            return StorageError(f"the store refused: {code}: {error}", transient=False)
        if isinstance(error, sdk.NoCredentialsError | sdk.PartialCredentialsError):
            return StorageError(f"no credentials: {error}", transient=False)
        if isinstance(
            error,
            sdk.EndpointConnectionError
            | sdk.ConnectionClosedError
            | sdk.ReadTimeoutError
            | sdk.ConnectTimeoutError
            | sdk.ResponseStreamingError
            | sdk.IncompleteReadError
            | sdk.HTTPClientError
            | urllib3.exceptions.HTTPError,
        ):
            return StorageError(f"cannot reach the store: {error}", transient=True)
        if isinstance(error, OSError):
            return StorageError(f"the connection broke: {error}", transient=True)
        return StorageError(f"{type(error).__name__}: {error}", transient=False)

    # --- operations --------------------------------------------------------------------
    def open_read(self, target: PurePath) -> contextlib.AbstractContextManager[BinaryIO]:
        key, bucket = self.key(target), self.spec.bucket
        try:
            head = self.call(lambda: self.client.head_object(Bucket=bucket, Key=key))
        except FileNotFoundError:
            # A HEAD answers a bare 404 for a missing bucket too: which is it?
            self.call(lambda: self.client.head_bucket(Bucket=bucket))
            raise
        size = int(head["ContentLength"])

        def opener(offset: int) -> Any:
            ranged = {"Range": f"bytes={offset}-"} if offset else {}
            return self.client.get_object(Bucket=bucket, Key=key, **ranged)["Body"]

        return contextlib.closing(buffered(RangedReader(size, opener, self.translate)))

    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        key, bucket = self.key(target), self.spec.bucket
        condition = {} if replace else {"IfNoneMatch": "*"}
        first = read_full(source, PART)
        if len(first) < PART:
            self.call(
                lambda: self.client.put_object(Bucket=bucket, Key=key, Body=first, **condition)
            )
            return
        upload = self.call(lambda: self.client.create_multipart_upload(Bucket=bucket, Key=key))
        upload_id = upload["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            chunk = first
            while chunk:
                parts.append(self._part(key, upload_id, len(parts) + 1, chunk))
                chunk = read_full(source, PART)
            self.call(
                lambda: self.client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **condition,
                )
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    def _part(self, key: str, upload_id: str, number: int, chunk: bytes) -> dict[str, Any]:
        sent = self.call(
            lambda: self.client.upload_part(
                Bucket=self.spec.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
            )
        )
        return {"ETag": sent["ETag"], "PartNumber": number}

    def exists(self, target: PurePath) -> bool:
        try:
            self.call(
                lambda: self.client.head_object(Bucket=self.spec.bucket, Key=self.key(target))
            )
        except FileNotFoundError:
            return False
        return True

    def remove(self, target: PurePath) -> None:
        self.call(lambda: self.client.delete_object(Bucket=self.spec.bucket, Key=self.key(target)))

    def check(self) -> None:
        import secrets

        bucket, prefix = self.spec.bucket, f"{self.base_path}/" if self.base_path else ""
        self.call(lambda: self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1))
        probe = f"{prefix}.cora-ocr-check-{secrets.token_hex(6)}"
        self.call(
            lambda: self.client.put_object(Bucket=bucket, Key=probe, Body=b"cora-ocr check\n")
        )
        self.call(lambda: self.client.delete_object(Bucket=bucket, Key=probe))
