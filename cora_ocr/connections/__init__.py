"""Named storage locations (local folders, and the kinds of specs.py: KINDS), with path joining
that can never leave a connection's root. storage.py says what every kind guarantees."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from cora_ocr.connections.access import Access
from cora_ocr.connections.paths import check_file_name, split_location
from cora_ocr.connections.specs import ConnectionSpec, open_kind
from cora_ocr.connections.storage import LocalStorage, Storage, StorageError
from cora_ocr.errors import InvalidField, SettingsError

__all__ = [
    "STAGING",
    "UPLOADS",
    "Connections",
    "LocalStorage",
    "Storage",
    "StorageError",
    "check_file_name",
    "remove_upload_folders",
    "split_location",
    "sweep_staging",
]

# The internal connection of the REST face's uploads and results (rest/uploads.py).
UPLOADS = "@uploads"
# Its folder of bodies still arriving, a folder per request (rest/uploads.py).
STAGING = "staging"
log = logging.getLogger(__name__)


def remove_upload_folders(root: Path, connection: str, *locations: str) -> None:
    """An uploaded job's own folders (`inbox/<token>`, `results/<token>`) under the uploads
    connection's `root`; nothing for a job of any other connection."""
    if connection != UPLOADS:
        return
    for location in locations:
        if location.count("/") == 1:
            shutil.rmtree(root / location, ignore_errors=True)


def sweep_staging(root: Path, now: float, age: float) -> int:
    """Remove what requests left in the uploads' staging folder and did not remove (a process
    killed mid-upload): entries older than `age` seconds at `now`. Returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(root / STAGING))
    except OSError:
        return 0  # no staging folder yet
    for entry in entries:
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < age:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue  # removed meanwhile, by its request or another sweeper
        except OSError as exc:
            log.warning("cannot remove staged upload %s: %s", entry.path, exc.strerror or exc)
            continue
        removed += 1
        log.info("removed staged upload %s, left by a request that did not finish", entry.path)
    return removed


def open_storage(name: str, spec: ConnectionSpec) -> Storage:
    """The connection a spec describes. Remote kinds connect on first use, not here."""
    if isinstance(spec, Path):
        return LocalStorage(name, spec)
    return open_kind(name, spec)


class Connections:
    """The registry of configured connections, and of internal ones (the REST face's uploads
    and results) that only the service itself may name: a SOAP caller asking for one is told
    it does not exist."""

    def __init__(
        self,
        specs: Mapping[str, ConnectionSpec],
        internal: Mapping[str, Path] | None = None,
        access: Mapping[str, Access] | None = None,
    ) -> None:
        self._by_name = {name: open_storage(name, spec) for name, spec in specs.items()}
        self._access = dict(access or {})
        self._internal = {
            name: LocalStorage(name, Path(root)) for name, root in (internal or {}).items()
        }
        clash = sorted(set(self._by_name) & set(self._internal))
        if clash:
            raise SettingsError(f"connections: {clash[0]!r} is a name the service keeps for itself")

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def all(self) -> list[Storage]:
        return [self._by_name[name] for name in self.names()]

    def get(self, field: str, name: str | None, internal: bool = False) -> Storage:
        """The connection named `name`; internal ones only when `internal` (the worker, the
        REST face), else InvalidField as for any unknown name."""
        if not name:
            raise InvalidField(field, "is required")
        if internal and name in self._internal:
            return self._internal[name]
        try:
            return self._by_name[name]
        except KeyError:
            # The configured names are not listed: a caller learns of no connection it may
            # not use (issue 25).
            raise InvalidField(field, f"unknown connection {name!r}") from None

    def for_caller(
        self, field: str, name: str | None, license_id: str | None, internal: bool = False
    ) -> tuple[Storage, str]:
        """The connection `name` as a caller of license `license_id` (None: anonymous) may
        use it, and the folder under its root that the caller's paths start from ("" the
        root). One the license may not use is unknown to it, word for word."""
        storage = self.get(field, name, internal)
        if internal and name in self._internal:
            return storage, ""
        folder = self._access.get(storage.name, Access()).folder(license_id)
        if folder is None:
            raise InvalidField(field, f"unknown connection {name!r}")
        return storage, folder

    def local_root(self, name: str) -> Path:
        """The folder of a local connection (internal ones included)."""
        storage = self._internal.get(name) or self._by_name.get(name)
        if not isinstance(storage, LocalStorage):
            raise SettingsError(f"connections: {name!r} is not a local folder")
        return storage.root

    def ensure_roots(self) -> None:
        for storage in [*self._by_name.values(), *self._internal.values()]:
            if isinstance(storage, LocalStorage):
                storage.ensure_root()

    def close(self) -> None:
        for storage in self._by_name.values():
            storage.close()
