"""File operations on local storage roots and robot hot folders.

Every put writes a hidden temporary file beside the target and then links or renames it into
place, so a reader (a robot, a caller) never sees half a file. Not replacing uses
a hard link, which fails atomically when the name is taken; where links are not supported the
fallback checks first and renames (a small race, documented).
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


class TargetExists(FileExistsError):
    """The target name is taken and the put model says not to replace it."""


class NotARegularFile(OSError):
    """The source is a folder, a device, a pipe or a socket: never read those."""


def open_source(path: Path) -> BinaryIO:
    info = path.stat()  # FileNotFoundError when missing
    if not stat.S_ISREG(info.st_mode):
        raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
    return path.open("rb")


def temp_name(target: Path, tag: str) -> Path:
    # A leading dot and a .part suffix: robots and callers ignore such names.
    return target.with_name(f".{target.name}.{tag}.part")


def write_temp(source: BinaryIO, target: Path, tag: str) -> Path:
    """The source written and synced to a hidden temp file beside target; on any failure (a
    full disk, a vanished folder) the temp file is removed before the error goes on."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_name(target, tag)
    try:
        with temp.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def place(temp: Path, target: Path, replace: bool) -> None:
    """Move temp to target; without `replace`, TargetExists if the name is taken."""
    try:
        if replace:
            os.replace(temp, target)
            return
        try:
            os.link(temp, target)
        except FileExistsError:
            raise TargetExists(errno.EEXIST, "file exists", str(target)) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if target.exists():  # no hard links here: check, then rename
                raise TargetExists(errno.EEXIST, "file exists", str(target)) from None
            os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def put_file(source: BinaryIO, target: Path, *, replace: bool, tag: str) -> None:
    """Write source at target through a temp file; TargetExists unless `replace`."""
    place(write_temp(source, target, tag), target, replace)


def same_content(first: Path, second: Path) -> bool:
    try:
        return filecmp.cmp(first, second, shallow=False)
    except OSError:
        return False


def remove_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
