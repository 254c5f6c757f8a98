"""A connection's RelativeLocation and FileName, checked as text: what may name a file."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from cora_ocr.errors import InvalidField

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
