"""Azure Blob Storage connections, through azure-storage-blob.

Delivery is atomic on the service itself: a block blob appears whole when its single PUT or
its block list is committed, never in part. Without replacing, the commit carries
`If-None-Match: *` (the SDK's `overwrite=False`): the service refuses it if the blob
appeared meanwhile, so FailIfExists and Rename never overwrite a result that came in
between. Uncommitted blocks of a failed upload are discarded by the service (after a week).

Documents move in blocks of BLOCK bytes, one at a time, and are read in BLOCK-sized ranged
GETs: a 200 MB document costs the worker a few blocks of memory. The SDK retries throttling
(503 ServerBusy, 500) and dropped connections with backoff (SDK_RETRIES times, 1 s then
3 s) before an
error comes here; the worker then tries the step again later (worker/loop.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import secrets
import threading
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, BinaryIO

from cora_ocr.connections.files import TargetExists
from cora_ocr.connections.objects import ObjectStorage, RangedReader, buffered
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

BLOCK = 4 * 1024 * 1024
SDK_RETRIES = 2


# What the settings say of a connection of this kind (connections/specs.py: KINDS).
KEYS = frozenset(
    {"type", "account_url", "container", "base_path", "account_name", "timeout"}
    | {"account_key_env", "connection_string_env"}
)


@dataclasses.dataclass(frozen=True)
class AzureBlobSpec:
    container: str
    base_path: str = ""
    account_url: str | None = None
    account_name: str | None = None
    account_key_env: str | None = None
    account_key: str | None = dataclasses.field(default=None, repr=False, compare=False)
    connection_string_env: str | None = None
    connection_string: str | None = dataclasses.field(default=None, repr=False, compare=False)
    timeout: float = DEFAULT_TIMEOUT

    kind = "azure_blob"

    def describe(self) -> str:
        account = self.account_url or f"(connection string in {self.connection_string_env})"
        return f"azure-blob {account}/{self.container}/{self.base_path}".rstrip("/")

    def secret_problem(self) -> str | None:
        return missing_env(
            (self.account_key_env, self.account_key),
            (self.connection_string_env, self.connection_string),
        )


def parse(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> AzureBlobSpec:
    key_env = optional(where, entry, "account_key_env")
    string_env = optional(where, entry, "connection_string_env")
    account_url = optional(where, entry, "account_url")
    account_name = optional(where, entry, "account_name")
    if (key_env is None) == (string_env is None):
        raise SettingsError(
            f"{where}: give account_name with account_key_env, or connection_string_env"
        )
    if key_env is not None and (account_url is None or account_name is None):
        raise SettingsError(f"{where}: account_key_env needs account_url and account_name")
    if account_url is not None and not account_url.startswith(("http://", "https://")):
        raise SettingsError(f"{where}.account_url: {account_url!r} is not an http(s) URL")
    return AzureBlobSpec(
        container=text(where, entry, "container"),
        base_path=base_path(where, entry, "base_path"),
        account_url=account_url,
        account_name=account_name,
        account_key_env=key_env,
        account_key=from_env(environ, key_env),
        connection_string_env=string_env,
        connection_string=from_env(environ, string_env),
        timeout=number(where, entry, "timeout", DEFAULT_TIMEOUT, 1, 3600, float),
    )


def storage(name: str, spec: AzureBlobSpec) -> AzureBlobStorage:
    return AzureBlobStorage(name, spec)


class AzureBlobStorage(ObjectStorage):
    kind = "azure_blob"

    def __init__(self, name: str, spec: AzureBlobSpec) -> None:
        self.name, self.spec, self.base_path = name, spec, spec.base_path
        self._container: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.spec.describe()

    def where(self, target: PurePath) -> str:
        return f"{self.name}:{self.spec.container}/{self.key(target)}"

    @property
    def container(self) -> Any:
        """One container client per connection and process (the SDK's are thread-safe)."""
        problem = self.spec.secret_problem()
        if problem:
            raise StorageError(problem, transient=False)
        with self._lock:
            if self._container is None:
                from azure.storage.blob import BlobServiceClient, ExponentialRetry

                spec = self.spec
                options: dict[str, Any] = {
                    "max_single_put_size": BLOCK,
                    "max_block_size": BLOCK,
                    "max_single_get_size": BLOCK,
                    "max_chunk_get_size": BLOCK,
                    # The SDK's own default waits 15 s, then 18, 24...: minutes before the
                    # worker hears of an outage it would rather retry on its own schedule.
                    "retry_policy": ExponentialRetry(
                        initial_backoff=1, increment_base=2, retry_total=SDK_RETRIES
                    ),
                    "connection_timeout": spec.timeout,
                    "read_timeout": spec.timeout,
                }
                if spec.connection_string is not None:
                    service = BlobServiceClient.from_connection_string(
                        spec.connection_string, **options
                    )
                else:
                    from azure.core.credentials import AzureNamedKeyCredential

                    # The settings give both with account_key_env (parse, above).
                    assert spec.account_url and spec.account_name and spec.account_key
                    credential = AzureNamedKeyCredential(spec.account_name, spec.account_key)
                    service = BlobServiceClient(spec.account_url, credential=credential, **options)
                self._container = service.get_container_client(spec.container)
            return self._container

    # --- errors ------------------------------------------------------------------------
    def translate(self, error: Exception) -> BaseException:
        from azure.core import exceptions as sdk

        container = self.spec.container
        code = str(getattr(error, "error_code", "") or "")
        status = getattr(error, "status_code", None)
        if isinstance(error, sdk.ResourceNotFoundError):
            if "ContainerNotFound" in code:
                return StorageError(f"container {container} does not exist", transient=False)
            return FileNotFoundError(errno.ENOENT, "no such blob")
        if isinstance(error, sdk.ResourceExistsError | sdk.ResourceModifiedError) or status == 412:
            return TargetExists(errno.EEXIST, "the blob exists")
        if isinstance(error, sdk.ClientAuthenticationError) or status == 403:
            return StorageError(
                f"access denied ({code or status}): wrong account key or connection string, "
                f"or no right to container {container}",
                transient=False,
            )
        if isinstance(error, sdk.ServiceRequestError | sdk.ServiceResponseError):
            return StorageError(f"cannot reach the service: {error}", transient=True)
        if isinstance(error, sdk.HttpResponseError) and status is not None and status >= 500:
            return StorageError(
                f"the service is busy or failing ({code or status}); tried "
                f"{SDK_RETRIES + 1} times with backoff",
                transient=True,
            )
        if isinstance(error, OSError):
            return StorageError(f"the connection broke: {error}", transient=True)
        return StorageError(
            f"the service refused: {code or type(error).__name__}: {error}", transient=False
        )

    # --- operations --------------------------------------------------------------------
    def open_read(self, target: PurePath) -> contextlib.AbstractContextManager[BinaryIO]:
        blob = self.container.get_blob_client(self.key(target))
        size = int(self.call(blob.get_blob_properties).size)

        def opener(offset: int) -> Any:
            return _Downloaded(blob.download_blob(offset=offset, max_concurrency=1))

        return contextlib.closing(buffered(RangedReader(size, opener, self.translate)))

    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        blob = self.container.get_blob_client(self.key(target))
        self.call(lambda: blob.upload_blob(source, overwrite=replace, max_concurrency=1))

    def exists(self, target: PurePath) -> bool:
        blob = self.container.get_blob_client(self.key(target))
        return bool(self.call(blob.exists))

    def remove(self, target: PurePath) -> None:
        blob = self.container.get_blob_client(self.key(target))
        with contextlib.suppress(FileNotFoundError):
            self.call(blob.delete_blob)

    def check(self) -> None:
        prefix = f"{self.base_path}/" if self.base_path else ""
        self.call(lambda: next(iter(self.container.list_blobs(name_starts_with=prefix)), None))
        probe = self.container.get_blob_client(f"{prefix}.cora-ocr-check-{secrets.token_hex(6)}")
        self.call(lambda: probe.upload_blob(b"cora-ocr check\n"))
        self.call(probe.delete_blob)


class _Downloaded:
    """A download as a stream: `read(n)` pulls the service's chunks as they are needed."""

    def __init__(self, downloader: Any) -> None:
        self._downloader = downloader

    def read(self, size: int = -1) -> bytes:
        return bytes(self._downloader.read(size))

    def close(self) -> None:
        return None
