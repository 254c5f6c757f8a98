"""Named storage roots, with path joining that can never leave the root."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cora_ocr.errors import InvalidField, SettingsError

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 255
MAX_LOCATION = 1024


def split_location(field: str, location: str | None) -> tuple[str, ...]:
    """The folder parts of a RelativeLocation; Windows separators are accepted."""
    text = (location or "").replace("\\", "/")
    if len(text) > MAX_LOCATION:
        raise InvalidField(field, f"longer than {MAX_LOCATION} characters")
    if _CONTROL.search(text):
        raise InvalidField(field, "contains control characters")
    if text.startswith("/") or _DRIVE.match(text):
        raise InvalidField(
            field, f"{location!r} is an absolute path; give a path relative to the connection root"
        )
    parts = tuple(part for part in PurePosixPath(text).parts if part not in ("", "."))
    if ".." in parts:
        raise InvalidField(field, f"{location!r} climbs out of the connection root with '..'")
    return parts


def check_file_name(field: str, name: str | None) -> str:
    if not name:
        raise InvalidField(field, "is required")
    if len(name) > MAX_NAME:
        raise InvalidField(field, f"longer than {MAX_NAME} characters")
    if "/" in name or "\\" in name:
        raise InvalidField(
            field, f"{name!r} contains a path separator; put folders in RelativeLocation"
        )
    if name in (".", ".."):
        raise InvalidField(field, f"{name!r} is not a file name")
    if _CONTROL.search(name) or _DRIVE.match(name):
        raise InvalidField(field, f"{name!r} contains characters not allowed in a file name")
    return name


@dataclass(frozen=True)
class Connection:
    name: str
    root: Path

    def resolve(self, prefix: str, location: str | None, file_name: str | None) -> Path:
        """The absolute path of location/file_name, refusing anything outside the root.

        Links that exist are followed, so a link pointing outside the root is refused too.
        """
        parts = split_location(f"{prefix}.RelativeLocation", location)
        name = check_file_name(f"{prefix}.FileName", file_name)
        root = self.root.resolve()
        target = root.joinpath(*parts, name)
        if not target.resolve().is_relative_to(root):
            raise InvalidField(
                f"{prefix}.RelativeLocation", "leads outside the connection root through a link"
            )
        return target


# The internal connection of the REST face's uploads and results (rest/uploads.py).
UPLOADS = "@uploads"


def remove_upload_folders(root: Path, connection: str, *locations: str) -> None:
    """An uploaded job's own folders (`inbox/<token>`, `results/<token>`) under the uploads
    connection's `root`; nothing for a job of any other connection."""
    if connection != UPLOADS:
        return
    for location in locations:
        if location.count("/") == 1:
            shutil.rmtree(root / location, ignore_errors=True)


class Connections:
    """The registry of configured connections, and of internal ones (the REST face's uploads
    and results) that only the service itself may name: a SOAP caller asking for one is told
    it does not exist."""

    def __init__(
        self, roots: Mapping[str, Path], internal: Mapping[str, Path] | None = None
    ) -> None:
        self._by_name = {name: Connection(name, Path(root)) for name, root in roots.items()}
        self._internal = {
            name: Connection(name, Path(root)) for name, root in (internal or {}).items()
        }
        clash = sorted(set(self._by_name) & set(self._internal))
        if clash:
            raise SettingsError(f"connections: {clash[0]!r} is a name the service keeps for itself")

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, field: str, name: str | None, internal: bool = False) -> Connection:
        """The connection named `name`; internal ones only when `internal` (the worker, the
        REST face), else InvalidField as for any unknown name."""
        if not name:
            raise InvalidField(field, "is required")
        if internal and name in self._internal:
            return self._internal[name]
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise InvalidField(
                field, f"unknown connection {name!r} (configured: {known})"
            ) from None

    def ensure_roots(self) -> None:
        for connection in [*self._by_name.values(), *self._internal.values()]:
            connection.root.mkdir(parents=True, exist_ok=True)
