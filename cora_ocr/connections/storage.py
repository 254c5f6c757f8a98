"""A connection's files, whatever holds them: one interface, a local folder behind it here, an
SFTP server or an SMB share in sftp.py and smb.py.

What every kind guarantees: a target is resolved inside the connection's root (no `..`, no
absolute paths, no links out); reads and writes stream in chunks; a put writes under a hidden
temporary name and then renames, so nobody sees half a file; a put that may not replace fails
with TargetExists when the name is taken, never overwriting.

Trouble comes as StorageError with the reason in words and whether trying again later may help
(`transient`: the server is down or cut the connection) or not (wrong password, no such share,
the share is full, permission denied). A missing file is FileNotFoundError, as locally.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import BinaryIO

from cora_ocr.connections import files, nofollow
from cora_ocr.connections.paths import check_file_name, split_location
from cora_ocr.errors import InvalidField

TargetExists = files.TargetExists
NotARegularFile = files.NotARegularFile
CHUNK = files.CHUNK


class SizedReader(io.RawIOBase):
    """A readable, seekable file of `size` bytes read by `readinto` from `_offset` on: what
    the remote kinds' readers share (SFTP's windows, the object stores' ranged GETs)."""

    def __init__(self, size: int) -> None:
        self._size, self._offset = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._offset, io.SEEK_END: self._size}[whence]
        self._offset = max(0, base + offset)
        return self._offset


class StorageError(OSError):
    """A connection could not do what was asked; `reason` says why in one line."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient

    def __str__(self) -> str:
        return self.reason


class OutsideRoot(StorageError):
    """The path leads out of the connection's root (through a link)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, transient=False)


class Storage(ABC):
    """One configured connection. Targets are what `resolve` returns: a Path for a local
    folder, the path on the server (a PurePosixPath) for a remote one."""

    name: str
    kind: str

    @abstractmethod
    def describe(self) -> str:
        """Where the connection points, for messages (never with a secret)."""

    @abstractmethod
    def resolve(self, prefix: str, location: str | None, file_name: str | None) -> PurePath:
        """The target of location/file_name, or InvalidField naming the field and the reason.
        Remote kinds check the text only: the server is asked when the file is used."""

    @abstractmethod
    def open_read(self, target: PurePath) -> contextlib.AbstractContextManager[BinaryIO]:
        """The file for reading in chunks; FileNotFoundError, NotARegularFile, StorageError."""

    @abstractmethod
    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        """Write source at target through a temporary name; TargetExists unless `replace`."""

    @abstractmethod
    def exists(self, target: PurePath) -> bool: ...

    @abstractmethod
    def remove(self, target: PurePath) -> None:
        """Remove the file at target, if it is there (a delivery taken back: all or none)."""

    @abstractmethod
    def check(self) -> None:
        """List the root, write and remove a probe file; StorageError on any trouble."""

    def close(self) -> None:  # noqa: B027 (a local folder has nothing to let go of)
        """Let go of open sessions."""

    def where(self, target: PurePath) -> str:
        """target, for messages: the connection's name and the path on the server."""
        return f"{self.name}:{target}"

    def first_free(self, target: PurePath, beside: tuple[str, ...] = ()) -> PurePath:
        """The target, or the first of "name (1).ext", "name (2).ext", ... not taken; with
        `beside` (extensions), one whose "name.<each>" is not taken either."""
        candidate, number = target, 0
        while any(
            self.exists(name)
            for name in (candidate, *(candidate.with_name(candidate.stem + s) for s in beside))
        ):
            number += 1
            candidate = target.with_name(f"{target.stem} ({number}){target.suffix}")
        return candidate

    def same_content(self, local: Path, target: PurePath) -> bool:
        """Whether target holds the bytes of the local file (both read in chunks)."""
        try:
            with self.open_read(target) as remote:
                return _digest(remote) == _digest_path(local)
        except FileNotFoundError:
            return False


def _digest(reader: BinaryIO) -> bytes:
    digest = hashlib.sha256()
    while chunk := reader.read(CHUNK):
        digest.update(chunk)
    return digest.digest()


def _digest_path(path: Path) -> bytes:
    with path.open("rb") as reader:
        return _digest(reader)


class LocalStorage(Storage):
    """A folder on this host (or mounted on it)."""

    kind = "local"

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def where(self, target: PurePath) -> str:
        return str(target)  # the path on this host says it all

    def resolve(self, prefix: str, location: str | None, file_name: str | None) -> Path:
        """Links that exist are followed, so a link pointing outside the root is refused too."""
        parts = split_location(f"{prefix}.RelativeLocation", location)
        name = check_file_name(f"{prefix}.FileName", file_name)
        root = self.root.resolve()
        target = root.joinpath(*parts, name)
        if not target.resolve().is_relative_to(root):
            raise InvalidField(
                f"{prefix}.RelativeLocation", "leads outside the connection root through a link"
            )
        return target

    def _split(self, target: PurePath) -> tuple[tuple[str, ...], str]:
        """(folders under the root, file name) of a target `resolve` made."""
        parts = Path(target).relative_to(self.root.resolve()).parts
        return parts[:-1], parts[-1]

    @contextlib.contextmanager
    def _folder(self, folders: tuple[str, ...], create: bool = False) -> Iterator[int]:
        """The folder, reached without following links (nofollow.py); a link on the way is
        OutsideRoot, as on the remote kinds."""
        try:
            with nofollow.folder(self.root, folders, create) as fd:
                yield fd
        except nofollow.LinkOnTheWay as exc:
            raise OutsideRoot(f"{exc.filename} leads through a link, never followed") from None

    @contextlib.contextmanager
    def open_read(self, target: PurePath) -> Iterator[BinaryIO]:
        folders, name = self._split(target)
        with self._folder(folders) as fd:
            try:
                reader = nofollow.open_file(fd, name)
            except nofollow.LinkOnTheWay:
                raise OutsideRoot(f"{target} is a link, never followed") from None
        with reader:
            yield reader

    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        folders, name = self._split(target)
        with self._folder(folders, create=True) as fd:
            try:
                nofollow.put(source, fd, name, replace=replace, tag=tag)
            except nofollow.LinkOnTheWay:
                raise OutsideRoot(f"{target}: a link in the way, never followed") from None

    def exists(self, target: PurePath) -> bool:
        folders, name = self._split(target)
        try:
            with self._folder(folders) as fd:
                return nofollow.exists(fd, name)
        except FileNotFoundError:
            return False

    def remove(self, target: PurePath) -> None:
        folders, name = self._split(target)
        try:
            with self._folder(folders) as fd:
                os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass

    def check(self) -> None:
        probe = self.root / f".cora-ocr-check-{secrets.token_hex(6)}"
        try:
            list(self.root.iterdir())
            probe.write_bytes(b"cora-ocr connection check\n")
            probe.unlink()
        except OSError as exc:
            problem = f"{exc.strerror or exc}: {exc.filename or self.root}"
            raise StorageError(problem, transient=False) from exc

    def ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
