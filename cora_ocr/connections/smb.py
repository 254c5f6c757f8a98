"""SMB connections (smbprotocol's smbclient), SMB 2 and 3.

Each pooled session is a connection of its own to the server (its own smbclient connection
cache), so sessions never share a socket and one that breaks is dropped alone.

Confinement: the root is a folder inside the share, and every folder on the way to a file is
looked at without following links; a reparse point (a Windows symlink or junction) is
refused, never followed. A Samba server follows its own links on the server side, out of
sight of any client; Samba refuses links that leave the share unless `wide links` is on.

Delivery: the file is written under a hidden temporary name beside the target, then renamed
by the server (FileRenameInformation), replacing only when the put model says so.

Files are opened unbuffered (each read or write of a megabyte is one SMB request or a few):
a Python buffer around a file whose connection died would try, and fail, to flush and close
it again whenever it is collected.
smbprotocol waits at most `timeout` seconds to connect; a server that stops answering on an
open connection is noticed by smbprotocol's keep-alive, which this module sets to `timeout`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import secrets
import socket
import stat
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, BinaryIO, cast

from cora_ocr.connections.remote import Broken, RemoteStorage, rewinder
from cora_ocr.connections.specs import REMOTE_KEYS, RemoteSpec, number, remote_common, text
from cora_ocr.connections.storage import (
    CHUNK,
    NotARegularFile,
    OutsideRoot,
    StorageError,
    TargetExists,
)
from cora_ocr.errors import SettingsError

REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_DISK_FULL = 0xC000007F
STATUS_BAD_NETWORK_NAME = 0xC00000CC
NOT_FOUND = {0xC0000034, 0xC000003A, 0xC0000225}  # name, path, not found
STATUS_OBJECT_NAME_COLLISION = 0xC0000035

# What the settings say of a connection of this kind (connections/specs.py: KINDS).
KEYS = REMOTE_KEYS | {"share"}


@dataclasses.dataclass(frozen=True)
class SmbSpec(RemoteSpec):
    port: int = 445
    share: str = ""

    kind = "smb"

    def describe(self) -> str:
        return f"smb://{self.user}@{self.host}:{self.port}/{self.share}/{self.root}".rstrip("/")


def parse(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> SmbSpec:
    common = remote_common(where, entry, environ)
    share = text(where, entry, "share").strip("\\/")
    if not share or any(char in share for char in "\\/"):
        raise SettingsError(f"{where}.share: expected a share name, not a path")
    if common["password_env"] is None:
        raise SettingsError(f"{where}.password_env: is required for an smb connection")
    root = str(entry.get("root", "")).replace("\\", "/")
    parts = [part for part in root.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SettingsError(f"{where}.root: must not contain '..'")
    port = number(where, entry, "port", 445, 1, 65535, int)
    return SmbSpec(root="/".join(parts), port=port, share=share, **common)


def storage(name: str, spec: SmbSpec) -> SmbStorage:
    return SmbStorage(name, spec)


Session = dict[str, Any]  # an smbclient connection cache holding one connection


class SmbStorage(RemoteStorage[Session]):
    kind = "smb"
    spec: SmbSpec

    def __init__(self, name: str, spec: SmbSpec) -> None:
        super().__init__(name, spec)
        # Read once, when smbprotocol makes a connection: how long a connection may stay
        # silent before a keep-alive asks the server, and fails it if unanswered as long.
        timeout = str(int(spec.timeout))
        current = os.environ.get("SMB_EXPERIMENTAL_TRANSPORT_RECEIVE_TIMEOUT")
        if current is None or int(current) > int(timeout):
            os.environ["SMB_EXPERIMENTAL_TRANSPORT_RECEIVE_TIMEOUT"] = timeout

    def _unc(self, *parts: str) -> str:
        return "\\".join([f"\\\\{self.spec.host}", self.spec.share, *parts])

    def _kwargs(self, session: Session) -> dict[str, Any]:
        return {"port": self.spec.port, "connection_cache": session}

    # --- sessions ----------------------------------------------------------------------
    def _connect(self) -> Session:
        import smbclient

        spec, session = self.spec, cast(Session, {})
        try:
            smbclient.register_session(
                spec.host,
                username=spec.user,
                password=spec.password,
                port=spec.port,
                connection_timeout=int(spec.timeout),
                connection_cache=session,
            )
            root = self._unc(*PurePath(spec.root).parts)
            if not stat.S_ISDIR(smbclient.stat(root, **self._kwargs(session)).st_mode):
                raise StorageError(f"root {spec.root} is not a folder", transient=False)
        except Exception as error:
            self._disconnect(session)
            if _status(error) in NOT_FOUND or _status(error) == STATUS_BAD_NETWORK_NAME:
                raise StorageError(
                    f"no share {spec.share!r} with a folder {spec.root or '/'!r} on {spec.host}",
                    transient=False,
                ) from error
            raise
        return session

    def _disconnect(self, session: Session) -> None:
        import smbclient

        with contextlib.suppress(Exception):  # a broken connection may fail to say goodbye
            smbclient.reset_connection_cache(connection_cache=session)

    def translate(self, error: Exception, session: Session | None) -> BaseException:
        from smbprotocol.exceptions import LogonFailure, SMBOSError, SMBResponseException

        spec = self.spec
        if isinstance(error, StorageError | NotARegularFile | TargetExists):
            return error
        if isinstance(error, LogonFailure):
            return StorageError(
                f"authentication failed for user {spec.user} (wrong user name or password)",
                transient=False,
            )
        status = _status(error)
        if isinstance(error, SMBOSError | SMBResponseException) and status is not None:
            where = getattr(error, "filename", None) or "the file"
            if status in NOT_FOUND:
                return FileNotFoundError(errno.ENOENT, f"{_tail(where)} does not exist")
            if status == STATUS_OBJECT_NAME_COLLISION:
                return TargetExists(errno.EEXIST, "file exists", _tail(where))
            if status == STATUS_DISK_FULL:
                return StorageError(f"the share {spec.share} is full", transient=False)
            if status == STATUS_ACCESS_DENIED:
                return StorageError(f"access denied: {_tail(where)}", transient=False)
            if isinstance(error, SMBOSError):
                return StorageError(f"the server refused: {error.strerror}", transient=False)
        if isinstance(error, FileNotFoundError):
            return error
        # Anything else: the connection failed (refused, reset, closed, timed out) or the
        # server ended the session; a new one may work later.
        if isinstance(error, socket.timeout | TimeoutError):
            reason = f"no answer from {spec.host}:{spec.port} within {spec.timeout:g} s"
        else:
            reason = f"cannot reach {spec.host}:{spec.port}: {_words(error)}"
        return Broken(StorageError(reason, transient=True))

    # --- operations --------------------------------------------------------------------
    def open_read(self, target: PurePath) -> Any:
        import smbclient

        def opener(session: Session) -> BinaryIO:
            path = self._confined(session, target, create=False)
            info = smbclient.stat(path, **self._kwargs(session))
            if not stat.S_ISREG(info.st_mode):
                raise NotARegularFile(errno.EINVAL, "not a regular file", str(target))
            handle: BinaryIO = smbclient.open_file(
                path, mode="rb", buffering=0, share_access="r", **self._kwargs(session)
            )
            return handle

        return self.reading(opener)

    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        import smbclient

        rewind = rewinder(source)

        def put(session: Session) -> None:
            rewind()
            kwargs = self._kwargs(session)
            path = self._confined(session, target, create=True)
            temp = path.rsplit("\\", 1)[0] + f"\\.{target.name}.{tag}.part"
            try:
                with smbclient.open_file(temp, mode="wb", buffering=0, **kwargs) as out:
                    while chunk := source.read(CHUNK):
                        view = memoryview(chunk)
                        while view:  # one SMB write takes up to the server's max write size
                            view = view[out.write(view) :]
                (smbclient.replace if replace else smbclient.rename)(temp, path, **kwargs)
            finally:
                with contextlib.suppress(Exception):  # renamed already, or the server is gone
                    smbclient.remove(temp, **kwargs)

        self.run(put)

    def exists(self, target: PurePath) -> bool:
        import smbclient

        def exists(session: Session) -> bool:
            try:
                path = self._confined(session, target, create=False)
                smbclient.stat(path, **self._kwargs(session))
            except Exception as error:
                if isinstance(error, FileNotFoundError) or _status(error) in NOT_FOUND:
                    return False
                raise
            return True

        return self.run(exists)

    def remove(self, target: PurePath) -> None:
        import smbclient

        def remove(session: Session) -> None:
            try:
                smbclient.remove(
                    self._confined(session, target, create=False), **self._kwargs(session)
                )
            except Exception as error:
                if not (isinstance(error, FileNotFoundError) or _status(error) in NOT_FOUND):
                    raise

        self.run(remove)

    def check(self) -> None:
        import smbclient

        def probe(session: Session) -> None:
            kwargs = self._kwargs(session)
            root = self._unc(*PurePath(self.spec.root).parts)
            smbclient.listdir(root, **kwargs)
            path = f"{root}\\.cora-ocr-check-{secrets.token_hex(6)}"
            with smbclient.open_file(path, mode="wb", **kwargs) as out:
                out.write(b"cora-ocr connection check\n")
            smbclient.remove(path, **kwargs)

        self.run(probe)

    # --- confinement -------------------------------------------------------------------
    def _confined(self, session: Session, target: PurePath, create: bool) -> str:
        """The UNC path of target, its folders looked at one by one (module docstring);
        missing folders are made when `create`, else FileNotFoundError."""
        import smbclient

        kwargs = self._kwargs(session)
        parts = list(PurePath(self.spec.root).parts)
        for folder in self.folders(target):
            parts.append(folder)
            path = self._unc(*parts)
            try:
                info = smbclient.lstat(path, **kwargs)
            except Exception as error:
                if _status(error) not in NOT_FOUND:
                    raise
                if not create:
                    raise FileNotFoundError(
                        errno.ENOENT, f"folder {folder} does not exist"
                    ) from None
                try:
                    smbclient.mkdir(path, **kwargs)
                except Exception as made:
                    if _status(made) != STATUS_OBJECT_NAME_COLLISION:  # made meanwhile is fine
                        raise
                continue
            self._no_link(info, target)
            if not stat.S_ISDIR(info.st_mode):
                raise StorageError(f"{'/'.join(parts)} is not a folder", transient=False)
        path = self._unc(*parts, target.name)
        try:
            self._no_link(smbclient.lstat(path, **kwargs), target)
        except Exception as error:
            if _status(error) not in NOT_FOUND:
                raise
        return path

    def _no_link(self, info: Any, target: PurePath) -> None:
        if getattr(info, "st_file_attributes", 0) & REPARSE_POINT or stat.S_ISLNK(info.st_mode):
            raise OutsideRoot(f"{target} leads through a link (a reparse point), never followed")


def _status(error: BaseException) -> int | None:
    status = getattr(error, "ntstatus", None)
    if status is None:
        status = getattr(error, "status", None)
    return status if isinstance(status, int) else None


def _tail(unc: str) -> str:
    """A UNC path without its \\\\host\\share head."""
    parts = str(unc).lstrip("\\").split("\\", 2)
    return parts[2].replace("\\", "/") if len(parts) == 3 else str(unc)


def _words(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
