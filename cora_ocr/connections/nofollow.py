"""A local connection's files, reached one path component at a time: each folder is opened
relative to the previous one's descriptor (openat) with O_NOFOLLOW, and the file itself with
O_NOFOLLOW | O_NONBLOCK and checked to be a regular file (fstat) before it is read. A folder
swapped for a link between a check and its use is refused, never followed (issue 25: with
names resolved once and opened again later, 15 of 215 results were written outside the
root); a FIFO swapped in for a document does not block the worker.

The root itself is opened as configured (it may be a link an operator made)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from cora_ocr.connections import files

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkOnTheWay(OSError):
    """A component of the path is a link (or no longer a folder): never followed."""


def _link_refused(name: str) -> LinkOnTheWay:
    return LinkOnTheWay(errno.ELOOP, f"{name} is a link, never followed", name)


@contextlib.contextmanager
def folder(root: Path, parts: Sequence[str], create: bool = False) -> Iterator[int]:
    """A descriptor of root/parts, every part opened without following links (made first
    where missing, with `create`)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                inner = os.open(part, _FOLDER, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(fd, part):
                    raise _link_refused(part) from None
                raise
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def _is_link(folder_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_file(folder_fd: int, name: str) -> BinaryIO:
    """`name` in the folder, for reading: FileNotFoundError, LinkOnTheWay for a link,
    NotARegularFile for a folder, FIFO, socket or device (never opened for long: O_NONBLOCK)."""
    try:
        fd = os.open(name, _FILE, dir_fd=folder_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_refused(name) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise files.NotARegularFile(errno.EINVAL, "not a regular file", name)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def exists(folder_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def put(source: BinaryIO, folder_fd: int, name: str, *, replace: bool, tag: str) -> None:
    """Write source as `name` in the folder through a hidden temp file (created without
    following a link), then rename (replace) or hard-link (not replace: TargetExists if the
    name is taken). A rename or link never follows a link at the target name either."""
    temp = files.temp_name(Path(name), tag).name
    try:
        fd = os.open(temp, _NEW, 0o666, dir_fd=folder_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_refused(temp) from None
        raise
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, files.CHUNK)
            out.flush()
            os.fsync(out.fileno())
        _place(folder_fd, temp, name, replace)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=folder_fd)


def _place(folder_fd: int, temp: str, name: str, replace: bool) -> None:
    where = {"src_dir_fd": folder_fd, "dst_dir_fd": folder_fd}
    if replace:
        os.replace(temp, name, **where)
        return
    try:
        os.link(temp, name, **where, follow_symlinks=False)
    except FileExistsError:
        raise files.TargetExists(errno.EEXIST, "file exists", name) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if exists(folder_fd, name):  # no hard links here: check, then rename
            raise files.TargetExists(errno.EEXIST, "file exists", name) from None
        os.replace(temp, name, **where)
