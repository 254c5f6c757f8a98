"""SFTP connections (paramiko).

Confinement: the root is resolved on the server once per session (`realpath`), and every
folder on the way to a file is looked at without following links; a link is followed only
after the server says where it leads, and refused if that is outside the root.

Delivery: the file is written under a hidden temporary name beside the target, then renamed.
Without replacing, SFTP's own rename (OpenSSH: link, then unlink) fails when the name is
taken; replacing uses OpenSSH's posix-rename extension, which replaces atomically.

Reads ask for the next megabyte in 32 KB requests sent together (paramiko's readv), then wait:
a file is never more than a megabyte ahead in memory, and a round trip is paid per megabyte,
not per request. Writes are pipelined the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import logging
import posixpath
import secrets
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, BinaryIO

import paramiko

from cora_ocr.connections.remote import Broken, RemoteStorage, rewinder
from cora_ocr.connections.specs import (
    REMOTE_KEYS,
    RemoteSpec,
    number,
    optional,
    remote_common,
    text,
)
from cora_ocr.connections.storage import (
    CHUNK,
    NotARegularFile,
    OutsideRoot,
    SizedReader,
    StorageError,
    TargetExists,
)
from cora_ocr.errors import SettingsError

log = logging.getLogger(__name__)

REQUEST = 32 * 1024  # paramiko's largest read request


# What the settings say of a connection of this kind (connections/specs.py: KINDS).
KEYS = REMOTE_KEYS | {"key_file", "known_hosts"}


@dataclasses.dataclass(frozen=True)
class SftpSpec(RemoteSpec):
    port: int = 22
    key_file: Path | None = None
    # Host-key checking: a known_hosts file (None: the service user's ~/.ssh/known_hosts), or
    # off (False), which trusts whichever server answers.
    known_hosts: Path | bool | None = None

    kind = "sftp"

    def describe(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{self.root}"


def parse(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> SftpSpec:
    common = remote_common(where, entry, environ)
    root = text(where, entry, "root")
    if ".." in PurePosixPath(root).parts:
        raise SettingsError(f"{where}.root: must not contain '..'")
    key_file = optional(where, entry, "key_file")
    if key_file is None and common["password_env"] is None:
        raise SettingsError(f"{where}: give key_file or password_env")
    known = entry.get("known_hosts", True)
    if isinstance(known, bool):
        known_hosts: Path | bool | None = None if known else False
    elif isinstance(known, str) and known:
        known_hosts = Path(known)
    else:
        raise SettingsError(f"{where}.known_hosts: expected a file path, true or false")
    port = number(where, entry, "port", 22, 1, 65535, int)
    return SftpSpec(
        root=str(PurePosixPath(root)),
        port=port,
        key_file=Path(key_file) if key_file else None,
        known_hosts=known_hosts,
        **common,
    )


def storage(name: str, spec: SftpSpec) -> SftpStorage:
    return SftpStorage(name, spec)


@dataclass
class Session:
    client: paramiko.SSHClient
    sftp: paramiko.SFTPClient
    root: str  # the root as the server resolved it


class SftpStorage(RemoteStorage[Session]):
    kind = "sftp"
    spec: SftpSpec

    def __init__(self, name: str, spec: SftpSpec) -> None:
        super().__init__(name, spec)
        if spec.known_hosts is False:
            log.warning(
                "connection %s: host-key checking is off (known_hosts = false): any server"
                " answering at %s:%s is trusted",
                name,
                spec.host,
                spec.port,
            )

    # --- sessions ----------------------------------------------------------------------
    def _connect(self) -> Session:
        spec = self.spec
        client = paramiko.SSHClient()
        if spec.known_hosts is False:
            client.set_missing_host_key_policy(paramiko.WarningPolicy())
        else:
            if spec.known_hosts is None:
                client.load_system_host_keys()
            else:
                try:
                    client.load_host_keys(str(spec.known_hosts))
                except OSError as exc:
                    raise StorageError(
                        f"cannot read known_hosts {spec.known_hosts}: {exc.strerror or exc}",
                        transient=False,
                    ) from exc
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            # Our own socket, without Nagle's delay: SFTP sends small requests and waits for
            # their answers, and each wait would otherwise meet the peer's delayed ACK (about
            # 40 ms): 22 MB/s read instead of 134 MB/s on loopback (measured).
            sock = socket.create_connection((spec.host, spec.port), spec.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.connect(
                spec.host,
                spec.port,
                sock=sock,
                username=spec.user,
                password=spec.password,
                key_filename=str(spec.key_file) if spec.key_file else None,
                timeout=spec.timeout,
                banner_timeout=spec.timeout,
                auth_timeout=spec.timeout,
                channel_timeout=spec.timeout,
                look_for_keys=False,
                allow_agent=False,
            )
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            assert channel is not None
            channel.settimeout(spec.timeout)
            try:
                root = sftp.normalize(spec.root)
                is_folder = stat.S_ISDIR(sftp.stat(root).st_mode or 0)
            except FileNotFoundError:
                is_folder = False
            if not is_folder:
                raise StorageError(
                    f"root {spec.root} is not a folder on the server", transient=False
                )
        except BaseException:
            client.close()
            raise
        return Session(client, sftp, root)

    def _disconnect(self, session: Session) -> None:
        session.client.close()

    def translate(self, error: Exception, session: Session | None) -> BaseException:
        spec = self.spec
        if isinstance(error, StorageError | FileNotFoundError | NotARegularFile | TargetExists):
            return error
        if isinstance(error, paramiko.AuthenticationException):
            return StorageError(
                f"authentication failed for user {spec.user} (wrong password or key not accepted)",
                transient=False,
            )
        if isinstance(error, paramiko.BadHostKeyException):
            return StorageError(
                f"the host key of {spec.host}:{spec.port} does not match the one in known_hosts",
                transient=False,
            )
        if isinstance(error, paramiko.SSHException) and "known_hosts" in str(error):
            where = spec.known_hosts or "~/.ssh/known_hosts"
            return StorageError(
                f"the host key of {spec.host}:{spec.port} is not in {where}"
                f" (add it: ssh-keyscan -p {spec.port} {spec.host} >> {where})",
                transient=False,
            )
        transport = session.client.get_transport() if session is not None else None
        if session is None or transport is None or not transport.is_active():
            return Broken(
                StorageError(
                    f"cannot reach {spec.host}:{spec.port}: {_words(error)}", transient=True
                )
            )
        if isinstance(error, socket.timeout | TimeoutError | EOFError | paramiko.SSHException):
            return Broken(
                StorageError(
                    f"no answer from {spec.host}:{spec.port} within {spec.timeout:g} s"
                    if isinstance(error, socket.timeout | TimeoutError)
                    else f"the session to {spec.host}:{spec.port} broke: {_words(error)}",
                    transient=True,
                )
            )
        if isinstance(error, OSError) and error.errno == errno.ENOENT:
            return FileNotFoundError(errno.ENOENT, f"{error.filename or 'the file'} does not exist")
        if isinstance(error, PermissionError):
            return StorageError(
                f"permission denied: {error.filename or ''}".rstrip(": "), transient=False
            )
        return StorageError(f"the server refused: {_words(error)}", transient=False)

    # --- operations --------------------------------------------------------------------
    def open_read(self, target: PurePath) -> Any:
        def opener(session: Session) -> BinaryIO:
            path = self._confined(session, target, create=False)
            info = session.sftp.stat(path)
            if not stat.S_ISREG(info.st_mode or 0):
                raise NotARegularFile(errno.EINVAL, "not a regular file", str(target))
            handle = session.sftp.open(path, "rb")
            return io.BufferedReader(_Windowed(handle, info.st_size or 0), CHUNK)

        return self.reading(opener)

    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        rewind = rewinder(source)

        def put(session: Session) -> None:
            rewind()
            path = self._confined(session, target, create=True)
            temp = posixpath.join(posixpath.dirname(path), f".{target.name}.{tag}.part")
            try:
                with session.sftp.open(temp, "wb") as out:
                    out.set_pipelined(True)
                    while chunk := source.read(CHUNK):
                        out.write(chunk)
                if replace:
                    session.sftp.posix_rename(temp, path)
                    return
                try:
                    session.sftp.rename(temp, path)
                except OSError:
                    if _exists(session.sftp, path):
                        raise TargetExists(errno.EEXIST, "file exists", str(target)) from None
                    raise
            finally:
                _remove_quietly(session, temp)

        self.run(put)

    def exists(self, target: PurePath) -> bool:
        def exists(session: Session) -> bool:
            try:
                path = self._confined(session, target, create=False)
            except FileNotFoundError:
                return False
            return _exists(session.sftp, path)

        return self.run(exists)

    def remove(self, target: PurePath) -> None:
        def remove(session: Session) -> None:
            with contextlib.suppress(FileNotFoundError):
                session.sftp.remove(self._confined(session, target, create=False))

        self.run(remove)

    def check(self) -> None:
        def probe(session: Session) -> None:
            session.sftp.listdir(session.root)
            path = posixpath.join(session.root, f".cora-ocr-check-{secrets.token_hex(6)}")
            with session.sftp.open(path, "wb") as out:
                out.write(b"cora-ocr connection check\n")
            session.sftp.remove(path)

        self.run(probe)

    # --- confinement -------------------------------------------------------------------
    def _confined(self, session: Session, target: PurePath, create: bool) -> str:
        """The server path of target, its folders looked at one by one (module docstring);
        missing folders are made when `create`, else FileNotFoundError."""
        current = session.root
        for part in self.folders(target):
            current = self._step(session, posixpath.join(current, part), create)
        path = posixpath.join(current, target.name)
        try:
            info = session.sftp.lstat(path)
        except FileNotFoundError:
            return path
        if stat.S_ISLNK(info.st_mode or 0):
            self._inside(session, session.sftp.normalize(path), target)
        return path

    def _step(self, session: Session, folder: str, create: bool) -> str:
        try:
            info = session.sftp.lstat(folder)
        except FileNotFoundError:
            if not create:
                raise FileNotFoundError(errno.ENOENT, f"folder {folder} does not exist") from None
            try:
                session.sftp.mkdir(folder)
            except OSError:
                if not _exists(session.sftp, folder):  # not made by someone else meanwhile
                    raise
            return folder
        if stat.S_ISLNK(info.st_mode or 0):
            real = session.sftp.normalize(folder)
            self._inside(session, real, PurePath(folder))
            return real
        if not stat.S_ISDIR(info.st_mode or 0):
            raise StorageError(f"{folder} is not a folder", transient=False)
        return folder

    def _inside(self, session: Session, real: str, target: PurePath) -> None:
        if real != session.root and not real.startswith(session.root.rstrip("/") + "/"):
            raise OutsideRoot(f"{target} leads outside the connection root through a link")


class _Windowed(SizedReader):
    """An SFTP file read a megabyte at a time, its requests sent together (module docstring)."""

    def __init__(self, handle: paramiko.SFTPFile, size: int) -> None:
        super().__init__(size)
        self._handle = handle
        self._window = b""
        self._start = 0  # offset of the window's first byte

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._offset >= self._size:
            return 0
        if not self._start <= self._offset < self._start + len(self._window):
            self._fill()
        begin = self._offset - self._start
        count = min(len(view), len(self._window) - begin)
        view[:count] = self._window[begin : begin + count]
        self._offset += count
        return count

    def _fill(self) -> None:
        end = min(self._size, self._offset + CHUNK)
        chunks = [(at, min(REQUEST, end - at)) for at in range(self._offset, end, REQUEST)]
        self._window = b"".join(self._handle.readv(chunks))
        self._start = self._offset
        if len(self._window) < end - self._offset:  # the file shrank under us
            self._size = self._start + len(self._window)

    def close(self) -> None:
        try:
            self._handle.close()
        finally:
            super().close()


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _remove_quietly(session: Session, path: str) -> None:
    with contextlib.suppress(Exception):  # gone already (renamed), or the server is gone
        session.sftp.remove(path)


def _words(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
