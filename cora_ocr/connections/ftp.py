"""FTP connections (ftplib), explicit FTPS by default.

Delivery: the file is stored under a hidden temporary name beside the target, then renamed
(RNFR/RNTO): nobody sees half a result. FTP has no way to rename only if the new name is
free: without replacing, the target is looked for (SIZE) just before the rename, and the
rename refused if it is there; a file that appears between the look and the rename is
replaced (docs/guides/connections.md: what FTP cannot
promise).

Confinement: paths are the root, then the caller's folders and file name, checked at
FileBatch time (`..`, absolute and drive paths refused). FTP cannot tell a link from a
folder: links on the server are followed as the server follows them (a chrooted server
account is the way to keep them inside).

Reads stream from one RETR; a reader that seeks starts a new RETR at the offset (REST).
Sessions are pooled as SFTP's are (connections/remote.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import ftplib
import io
import logging
import posixpath
import secrets
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from cora_ocr.connections.objects import RangedReader, buffered
from cora_ocr.connections.remote import Broken, RemoteStorage, rewinder
from cora_ocr.connections.specs import (
    REMOTE_KEYS,
    RemoteSpec,
    base_path,
    number,
    optional,
    remote_common,
)
from cora_ocr.connections.storage import (
    CHUNK,
    NotARegularFile,
    StorageError,
    TargetExists,
)
from cora_ocr.errors import SettingsError

log = logging.getLogger(__name__)


# What the settings say of a connection of this kind (connections/specs.py: KINDS).
KEYS = REMOTE_KEYS | {"tls", "passive", "ca_file"}


@dataclasses.dataclass(frozen=True)
class FtpSpec(RemoteSpec):
    port: int = 21
    # Explicit FTPS (AUTH TLS, then protected data connections); False sends the password and
    # the files in clear, and is logged as a WARNING.
    tls: bool = True
    passive: bool = True
    # The certificate authority the server's certificate must come from (None: the system's).
    ca_file: Path | None = None

    kind = "ftp"

    def describe(self) -> str:
        scheme = "ftps" if self.tls else "ftp"
        return f"{scheme}://{self.user}@{self.host}:{self.port}{self.root}"


def parse(where: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> FtpSpec:
    common = remote_common(where, entry, environ)
    if common["password_env"] is None:
        raise SettingsError(f"{where}.password_env: is required for an ftp connection")
    root = "/" + base_path(where, entry, "root")
    flags = {}
    for name in ("tls", "passive"):
        flags[name] = entry.get(name, True)
        if not isinstance(flags[name], bool):
            raise SettingsError(f"{where}.{name}: {flags[name]!r} is not true or false")
    ca_file = optional(where, entry, "ca_file")
    port = number(where, entry, "port", 21, 1, 65535, int)
    return FtpSpec(
        root=root,
        port=port,
        tls=flags["tls"],
        passive=flags["passive"],
        ca_file=Path(ca_file) if ca_file else None,
        **common,
    )


def storage(name: str, spec: FtpSpec) -> FtpStorage:
    return FtpStorage(name, spec)


@dataclass
class Session:
    ftp: ftplib.FTP
    root: str  # the root as the server names it (PWD after changing to it)


class FtpStorage(RemoteStorage[Session]):
    kind = "ftp"
    spec: FtpSpec

    def __init__(self, name: str, spec: FtpSpec) -> None:
        super().__init__(name, spec)
        if not spec.tls:
            log.warning(
                "connection %s: tls = false: the password and the files cross the network to"
                " %s:%s in clear",
                name,
                spec.host,
                spec.port,
            )

    # --- sessions ----------------------------------------------------------------------
    def _connect(self) -> Session:
        spec = self.spec
        ftp: ftplib.FTP
        if spec.tls:
            context = ssl.create_default_context(cafile=str(spec.ca_file) if spec.ca_file else None)
            ftp = ftplib.FTP_TLS(context=context, timeout=spec.timeout)
        else:
            ftp = ftplib.FTP(timeout=spec.timeout)
        try:
            ftp.connect(spec.host, spec.port)
            ftp.login(spec.user, spec.password or "")
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()  # the data connections are protected too
            ftp.set_pasv(spec.passive)
            ftp.voidcmd("TYPE I")  # binary, and SIZE answers
            try:
                ftp.cwd(spec.root)
            except ftplib.error_perm:
                raise StorageError(
                    f"root {spec.root} is not a folder on the server", transient=False
                ) from None
            root = ftp.pwd()
        except BaseException:
            with contextlib.suppress(Exception):
                ftp.close()
            raise
        return Session(ftp, root)

    def _disconnect(self, session: Session) -> None:
        with contextlib.suppress(Exception):
            session.ftp.quit()
        session.ftp.close()

    def translate(self, error: Exception, session: Session | None) -> BaseException:
        spec = self.spec
        if isinstance(error, StorageError | FileNotFoundError | NotARegularFile | TargetExists):
            return error
        text = str(error)
        if isinstance(error, ftplib.error_perm) and text.startswith("530"):
            return StorageError(
                f"login refused for user {spec.user} (wrong password?): {text}", transient=False
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            return StorageError(
                f"the server's certificate is not trusted: {error.verify_message}"
                " (ca_file names the authority that signed it)",
                transient=False,
            )
        if isinstance(error, ftplib.error_perm) and text.startswith(("534", "504", "502")):
            return StorageError(f"the server does not offer FTPS: {text}", transient=False)
        if isinstance(error, ftplib.error_perm) and text.startswith("550"):
            return FileNotFoundError(errno.ENOENT, f"no such file ({text})")
        if isinstance(error, ftplib.error_perm):
            return StorageError(f"the server refused: {text}", transient=False)
        if isinstance(error, ftplib.error_temp):  # 4xx: busy, too many connections
            return Broken(StorageError(f"the server is busy: {text}", transient=True))
        if isinstance(error, socket.timeout | TimeoutError):
            return Broken(
                StorageError(
                    f"no answer from {spec.host}:{spec.port} within {spec.timeout:g} s",
                    transient=True,
                )
            )
        if isinstance(error, OSError | EOFError | ftplib.Error):
            return Broken(
                StorageError(f"cannot reach {spec.host}:{spec.port}: {text}", transient=True)
            )
        return StorageError(f"{type(error).__name__}: {text}", transient=False)

    # --- operations --------------------------------------------------------------------
    def _path(self, session: Session, target: PurePath) -> str:
        return posixpath.join(session.root, *self.folders(target), target.name)

    def open_read(self, target: PurePath) -> Any:
        def opener(session: Session) -> BinaryIO:
            path = self._path(session, target)
            size = _size(session.ftp, path)
            if size is None:
                raise FileNotFoundError(errno.ENOENT, f"{target} does not exist")
            retrieval: list[_Retrieval] = []

            def at(offset: int) -> _Retrieval:
                retrieval.clear()
                retrieval.append(_Retrieval(session.ftp, path, offset))
                return retrieval[0]

            return buffered(RangedReader(size, at, lambda error: self.translate(error, session)))

        return self.reading(opener)

    def put(self, source: BinaryIO, target: PurePath, *, replace: bool, tag: str) -> None:
        rewind = rewinder(source)

        def put(session: Session) -> None:
            rewind()
            ftp = session.ftp
            folder = self._folder(session, target)
            path = posixpath.join(folder, target.name)
            temp = posixpath.join(folder, f".{target.name}.{tag}.part")
            try:
                ftp.storbinary(f"STOR {temp}", source, CHUNK)
                if not replace and _size(ftp, path) is not None:
                    raise TargetExists(errno.EEXIST, "file exists", str(target))
                try:
                    ftp.rename(temp, path)
                except ftplib.error_perm:
                    if not replace or _size(ftp, path) is None:
                        raise
                    ftp.delete(path)  # a server that renames over no file: not atomic here
                    ftp.rename(temp, path)
            except BaseException:
                with contextlib.suppress(Exception):
                    ftp.delete(temp)
                raise

        self.run(put)

    def exists(self, target: PurePath) -> bool:
        return self.run(lambda session: _size(session.ftp, self._path(session, target)) is not None)

    def remove(self, target: PurePath) -> None:
        def remove(session: Session) -> None:
            with contextlib.suppress(ftplib.error_perm):  # 550: not there
                session.ftp.delete(self._path(session, target))

        self.run(remove)

    def check(self) -> None:
        def probe(session: Session) -> None:
            session.ftp.nlst(session.root)
            path = posixpath.join(session.root, f".cora-ocr-check-{secrets.token_hex(6)}")
            session.ftp.storbinary(f"STOR {path}", io.BytesIO(b"cora-ocr connection check\n"))
            session.ftp.delete(path)

        self.run(probe)

    def _folder(self, session: Session, target: PurePath) -> str:
        """The target's folder, made on the way where missing."""
        current = session.root
        for part in self.folders(target):
            current = posixpath.join(current, part)
            with contextlib.suppress(ftplib.error_perm):  # there already (or not allowed:
                session.ftp.mkd(current)  # the STOR says so)
        return current


def _size(ftp: ftplib.FTP, path: str) -> int | None:
    """The file's size, None if there is none (550)."""
    try:
        size = ftp.size(path)
    except ftplib.error_perm as error:
        if str(error).startswith("550"):
            return None
        raise
    return None if size is None else int(size)


class _Retrieval:
    """One RETR from an offset (REST), read as a stream; closing it early ends the transfer
    and reads the server's answer to it."""

    def __init__(self, ftp: ftplib.FTP, path: str, offset: int) -> None:
        self._ftp = ftp
        self._conn = ftp.transfercmd(f"RETR {path}", rest=offset or None)
        self._file = self._conn.makefile("rb")

    def read(self, size: int = -1) -> bytes:
        return bytes(self._file.read(size))

    def close(self) -> None:
        self._file.close()
        self._conn.close()
        # 226 when read to the end, 426 or 451 when cut short.
        with contextlib.suppress(ftplib.error_temp, ftplib.error_perm, ftplib.error_reply):
            self._ftp.voidresp()
